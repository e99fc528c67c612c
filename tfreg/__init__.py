"""tfreg: reproduce regularization studies of image classifiers with Keras 3 on TensorFlow."""

import contextlib
import os

# TensorFlow leaves its oneDNN kernels off on AMD CPUs; on this project's 2-core AMD machines they
# make a training step 2-6x faster. Must be set before TensorFlow is first imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# TensorFlow's C++ logging (a cuInit error on every machine without a GPU, ...) stays quiet unless
# the user asks for it by setting TF_CPP_MIN_LOG_LEVEL.
# A level inherited from a parent tfreg process (a sweep's runs) is tfreg's default, not the
# user's: TFREG_TF_LOG_DEFAULT marks it, so the runs' logs stay free of those lines too.
_USER_LOG_LEVEL = ("TF_CPP_MIN_LOG_LEVEL" in os.environ
                   and os.environ.get("TFREG_TF_LOG_DEFAULT") != os.environ["TF_CPP_MIN_LOG_LEVEL"])
if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ["TFREG_TF_LOG_DEFAULT"] = "3"
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

try:  # pyproject.toml is the single source of the version
    from importlib.metadata import version as _version

    __version__ = _version("tfreg")
except Exception:  # noqa: BLE001 - running from a checkout that is not installed
    __version__ = "0+unknown"


@contextlib.contextmanager
def quiet_tensorflow_import():
    """Silences file descriptor 2 while TensorFlow is first imported: its start-up lines (oneDNN,
    'Could not find cuda drivers') are printed during C++ static initialization, before any log
    level applies. Python exceptions still propagate; a no-op when TF_CPP_MIN_LOG_LEVEL was set."""
    import sys

    if _USER_LOG_LEVEL or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
