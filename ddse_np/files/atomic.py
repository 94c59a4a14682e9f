"""Atomic file writes: every file the tool writes appears whole or not at all.

The new content goes to ``NAME.tmp-XXXX`` in the target's own directory (the
same file system, so the final rename is atomic), is flushed to disk, given
the usual permissions, and renamed over the target.  If anything fails or the
process is stopped, the temporary file is removed and the previous target is
left as it was.  Checkpoints, figures and sweep files all go through here.
"""

from __future__ import annotations

import os
import stat
import struct
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..errors import DDSEError


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


@contextmanager
def atomic_path(path):
    """Yield a temporary path (str) beside ``path`` to write to; on success it replaces ``path``.

    The temporary name keeps ``path``'s suffix, so writers that go by the
    extension (matplotlib's ``savefig``) write the right format.  A symbolic link
    is written through: its target is replaced (atomically, beside the target) and
    the link stays.  Raises DDSEError ``cannot write PATH: REASON`` for any OSError
    on the way (a full disk, a quota, a file size limit, a read-only file system).
    """
    shown = path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if not path.parent.is_dir():
        raise DDSEError(f"cannot write {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise DDSEError(f"cannot write {path}: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp-", suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise DDSEError(f"cannot write {shown}: {_reason(exc)}") from None
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
            raise DDSEError(f"cannot write {shown}: {_reason(exc)}") from None
        raise


def check_target(path, overwrite: bool = True, named: str = "--out") -> Path:
    """Refuse, in one line and before any work, an output file that cannot or may not be written:
    a missing directory, a directory in its place, an existing file without ``overwrite``, a
    directory where no file can be created (read-only, no permission, full) — tried by creating
    and removing a temporary file there — or an existing file that cannot be replaced (immutable,
    append-only, another user's in a sticky directory; see ``check_replaceable``).  ``named``: what
    the command calls the path, for the message (``--out``, or an argument such as ``OUT``).
    Returns ``path``."""
    path = Path(path)
    real = Path(os.path.realpath(path)) if path.is_symlink() else path
    if not real.parent.is_dir():
        raise DDSEError(f"cannot write {path}: directory {real.parent} does not exist")
    if real.is_dir():
        raise DDSEError(f"cannot write {path}: it is a directory")
    if path.exists() and not overwrite:
        raise DDSEError(f"{path} exists: pass --overwrite to replace it, or choose another {named}")
    check_directory(real.parent, path)
    if real.is_file():
        check_replaceable(real, path)
    return path


def check_replaceable(path, shown=None):
    """Refuse, in one line, an existing file that the final rename could not replace although its
    directory is writable: an immutable or append-only file (Linux ``chattr +i`` / ``+a``, BSD and
    macOS ``chflags``), which no one may rename over, root included, or another user's file in a
    sticky directory (such as /tmp) for a user who owns neither the file nor the directory.  A
    file that is merely read-only (mode bits) passes: a rename replaces it.

    Looks without writing: the flags come from ``st_flags`` where the platform has it, else from
    the ``FS_IOC_GETFLAGS`` ioctl on a read-only descriptor (a file system without it passes), so
    the file, its watchers (inotify close-write) and an overlay's lower layer see only a read."""
    shown = shown or path
    flags = _inode_flags(path)
    for mask, what in ((_IMMUTABLE, "immutable"), (_APPEND_ONLY, "append-only")):
        if flags & mask:
            raise DDSEError(
                f"cannot write {shown}: the existing file is {what} and cannot be replaced"
            )
    euid = os.geteuid() if hasattr(os, "geteuid") else None
    if euid not in (None, 0):
        directory, file = os.stat(Path(path).parent), os.stat(path)
        if directory.st_mode & stat.S_ISVTX and euid not in (file.st_uid, directory.st_uid):
            raise DDSEError(
                f"cannot write {shown}: the existing file belongs to another user in a "
                f"sticky directory and cannot be replaced"
            )


_FS_IOC_GETFLAGS = 0x80086601  # Linux _IOR('f', 1, long); the kernel writes an int
if hasattr(os.stat_result, "st_flags"):  # BSD, macOS
    _IMMUTABLE = stat.UF_IMMUTABLE | stat.SF_IMMUTABLE
    _APPEND_ONLY = stat.UF_APPEND | stat.SF_APPEND
else:
    _IMMUTABLE, _APPEND_ONLY = 0x10, 0x20  # FS_IMMUTABLE_FL, FS_APPEND_FL of linux/fs.h


def _inode_flags(path) -> int:
    """The file's immutable / append-only style flags (``_IMMUTABLE``, ``_APPEND_ONLY`` masks), or
    0 where they cannot be read (no permission to read the file, no such ioctl)."""
    if hasattr(os.stat_result, "st_flags"):
        return os.stat(path).st_flags
    try:
        import fcntl

        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (ImportError, OSError):
        return 0
    try:
        buffer = bytearray(8)
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buffer)
        return struct.unpack("i", bytes(buffer[:4]))[0]
    except OSError:
        return 0
    finally:
        os.close(fd)


def check_directory(directory, shown=None):
    """Refuse, in one line, a directory (or, if it does not exist yet, its nearest existing
    parent) in which no file can be created: ``cannot write SHOWN (in PARENT): REASON``."""
    wanted = Path(shown or directory)
    directory = Path(directory)
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".ddse-write-test-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        where = "" if directory in (wanted, wanted.parent) else f" (in {directory})"
        raise DDSEError(f"cannot write {wanted}{where}: {_reason(exc)}") from None


def write_text(path, text: str):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
