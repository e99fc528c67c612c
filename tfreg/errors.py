"""Errors a user can cause and fix; the command line reports them as one line, exit status 2."""

import signal


class UsageError(Exception):
    """A mistake the user can fix: reported as one line and exit status 2, no traceback."""


class RunEnded(Exception):
    """A run that started and did not finish: its summary.json says why; `exit_code` for the shell
    (1 failed, 130 Ctrl-C, 143 SIGTERM)."""

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code


class Interrupted(BaseException):
    """SIGTERM, raised in the main thread as KeyboardInterrupt is for SIGINT."""


_signals_received = []


def raise_interrupted(signum, frame):
    """Signal handler for SIGTERM and SIGUSR2 (Interrupted) and SIGINT (KeyboardInterrupt). It
    remembers the
    signal: the exception can land inside TensorFlow code that turns it into another one (seen:
    AttributeError from tf.data's structure code), and a run that was signalled must still end
    'interrupted', not 'failed'."""
    _signals_received.append(signum)
    raise KeyboardInterrupt() if signum == signal.SIGINT else Interrupted()


def exit_status(interrupt):
    """The shell's exit status for KeyboardInterrupt (130) or Interrupted (143: SIGTERM, and
    SIGUSR2, Slurm's warning)."""
    return 143 if isinstance(interrupt, Interrupted) else 130


def interrupt_received():
    """The exception to report for a signal received by raise_interrupted, else None."""
    if not _signals_received:
        return None
    return KeyboardInterrupt() if _signals_received[0] == signal.SIGINT else Interrupted()
