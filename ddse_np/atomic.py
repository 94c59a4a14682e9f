"""Atomic file writes: every file the tool writes appears whole or not at all.

The new content goes to ``NAME.tmp-XXXX`` in the target's own directory (the
same file system, so the final rename is atomic), is flushed to disk, given
the usual permissions, and renamed over the target.  If anything fails or the
process is stopped, the temporary file is removed and the previous target is
left as it was.  Checkpoints, figures and sweep files all go through here.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import DDSEError


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


@contextmanager
def atomic_path(path):
    """Yield a temporary path (str) beside ``path`` to write to; on success it replaces ``path``.

    The temporary name keeps ``path``'s suffix, so writers that go by the
    extension (matplotlib's ``savefig``) write the right format.
    Raises DDSEError ``cannot write PATH: REASON`` for any OSError on the way.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise DDSEError(f"cannot write {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise DDSEError(f"cannot write {path}: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp-", suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise DDSEError(f"cannot write {path}: {_reason(exc)}") from None
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise DDSEError(f"cannot write {path}: {_reason(exc)}") from None
        raise


def write_text(path, text: str):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
