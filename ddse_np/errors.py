"""The project's one error type for things a user can fix.

Anything raised as ``DDSEError`` reaches the command line as a single line
(``error: ...``) and a non-zero exit status, never as a traceback.
"""


class DDSEError(Exception):
    """A user-facing error: bad option, missing or corrupt file, missing GPU."""


class Interrupted(DDSEError):
    """Training stopped by a signal after saving a resumable checkpoint."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
