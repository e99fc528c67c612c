"""tfreg: reproduce regularization studies of image classifiers with Keras 3 on TensorFlow."""

import os

# TensorFlow leaves its oneDNN kernels off on AMD CPUs; on this project's 2-core AMD machines they
# make a training step 2-6x faster. Must be set before TensorFlow is first imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

try:  # pyproject.toml is the single source of the version
    from importlib.metadata import version as _version

    __version__ = _version("tfreg")
except Exception:  # noqa: BLE001 - running from a checkout that is not installed
    __version__ = "0+unknown"
