"""tfreg: reproduce regularization studies of image classifiers with Keras 3 on TensorFlow.

The public Keras API (docs/library.md): `tfreg.layers`, `tfreg.optimizers`, `tfreg.losses`,
`tfreg.augment`. Importing tfreg sets no environment variable; the command-line tools do
(`tfreg.environment.configure`).
"""

from tfreg.environment import quiet_tensorflow_import  # noqa: F401  (the tools' name for it)

try:  # pyproject.toml is the single source of the version
    from importlib.metadata import version as _version

    __version__ = _version("tfreg")
except Exception:  # noqa: BLE001 - running from a checkout that is not installed
    __version__ = "0+unknown"
