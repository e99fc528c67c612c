"""The process environment tfreg's command-line tools set before TensorFlow loads.

`import tfreg` (or `import tfreg.layers`, ...) changes nothing in `os.environ`: a Keras user's
process keeps its own settings. The entry points (`tfreg.cli.call`, which serves every console
script and `python -m tfreg.sweep / .report / .analyze`, and `tfreg.run` / `tfreg.analysis.cli`
at import) call `configure()` first, and tests/conftest.py does for the test suite. Pure Python:
no TensorFlow here.
"""

import contextlib
import os
import sys

# Whether TF_CPP_MIN_LOG_LEVEL was the user's own choice when configure() ran (None: not run).
_user_log_level = None


def configure():
    """Sets tfreg's defaults for TensorFlow and Keras in `os.environ`, keeping what the user set.

    - TF_ENABLE_ONEDNN_OPTS=1: TensorFlow leaves its oneDNN kernels off on AMD CPUs; on this
      project's 2-core AMD machines they make a training step 2-6x faster.
    - TF_CPP_MIN_LOG_LEVEL=3: TensorFlow's C++ logging (a cuInit error on every machine without a
      GPU, ...) stays quiet unless the user asks for it by setting the variable. A level inherited
      from a parent tfreg process (a sweep's runs) is tfreg's default, not the user's:
      TFREG_TF_LOG_DEFAULT marks it, so the runs' logs stay free of those lines too.
    - KERAS_BACKEND=tensorflow.

    Must run before TensorFlow is first imported; a second call changes nothing.
    """
    global _user_log_level
    if _user_log_level is not None:
        return
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    _user_log_level = ("TF_CPP_MIN_LOG_LEVEL" in os.environ
                       and os.environ.get("TFREG_TF_LOG_DEFAULT") != os.environ["TF_CPP_MIN_LOG_LEVEL"])
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ["TFREG_TF_LOG_DEFAULT"] = "3"
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def quiet_tensorflow_import():
    """Silences file descriptor 2 while TensorFlow is first imported: its start-up lines (oneDNN,
    'Could not find cuda drivers') are printed during C++ static initialization, before any log
    level applies. Python exceptions still propagate. A no-op when the user set
    TF_CPP_MIN_LOG_LEVEL, when `configure()` has not run (a library user's process), or when
    TensorFlow is already loaded."""
    if _user_log_level is not False or "tensorflow" in sys.modules:
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
