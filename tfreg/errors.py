"""Errors a user can cause and fix; the command line reports them as one line, exit status 2."""


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
