"""Every output is written whole or not at all (a symbolic link written through, a file size
limit, a full disk), and a target that cannot be written or replaced (read-only directory,
immutable or append-only file, another user's file in a sticky directory) is refused in one line
before any work.  ``ddse_np/files/atomic.py``."""

import numpy as np
import pytest

from ddse_np.files.checkpoint import load, save


def test_a_symlinked_target_is_written_through(tmp_path):
    from ddse_np.nn.models import DDSE

    model = DDSE.create(10, 12, 1, 3)
    model.set_pca(np.zeros(10), np.eye(10))
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "v1.h5"
    save(target, model)
    link = tmp_path / "latest.h5"
    link.symlink_to(target)
    model.params["c"][:] = 7.0
    save(link, model)
    assert link.is_symlink() and link.resolve() == target
    assert np.all(load(target)[0].params["c"] == 7.0)
    assert not list(tmp_path.rglob("*.tmp-*"))


def test_a_write_that_fails_leaves_nothing_and_keeps_the_old_file(tmp_path):
    """A file size limit (as `ulimit -f`) makes the write fail with EFBIG part way: one line, exit
    1, no temporary file, the previous checkpoint intact."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "run.h5"
    out.write_bytes(b"previous")
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000)); sys.argv[0] = 'ddse'; "
        "from ddse_np.__main__ import main; main()"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "train",
            "--m",
            "64",
            "--train-fraction",
            "0.02",
            "--val-size",
            "300",
            "--epochs",
            "1",
            "--quiet",
            "--overwrite",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == f"error: cannot write {out}: File too large"
    assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == [
        "run.h5"
    ]


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only tmpfs mount where the machine allows mounting; else a mode-0500 directory for
    a user that is not root; else skipped."""
    import os
    import subprocess

    mount = tmp_path / "ro"
    mount.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mount)], capture_output=True
        ).returncode
        == 0
    ):
        yield mount
        subprocess.run(["umount", str(mount)], capture_output=True)
    elif os.geteuid() != 0:
        mount.chmod(0o500)
        yield mount
        mount.chmod(0o700)
    else:
        pytest.skip("cannot make a read-only directory here")


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--out", "{ro}/a.h5"],
        ["augment-preview", "--out", "{ro}/a.png"],
        ["sweep", "depth", "--out", "{ro}/sweep"],
        # named as asked, with the directory that refuses
        [
            "sweep",
            "depth",
            "--out",
            "{ro}/new/sweep",
        ],
        ["export", "{ckpt}", "{ro}/b.h5"],
        ["predict", "{ckpt}", "{ro}/p.csv"],
        ["inspect", "{ckpt}", "--atoms", "{ro}/atoms.png"],
    ],
)
def test_unwritable_targets_are_refused_before_any_work(
    tmp_path, read_only_dir, command, monkeypatch
):
    import ddse_np.cli
    import ddse_np.cli.checkpoints
    import ddse_np.data.mnist
    from ddse_np.training.trainer import Trainer

    def no_work(*args, **kwargs):
        raise AssertionError("data read or training started before the target was checked")

    for module in (ddse_np.data.mnist, ddse_np.cli, ddse_np.cli.checkpoints):
        monkeypatch.setattr(module, "load_split", no_work)
    monkeypatch.setattr(Trainer, "start", classmethod(no_work))

    from click.testing import CliRunner

    from ddse_np.cli import cli
    from ddse_np.nn.models import DDSE

    model = DDSE.create(784, 12, 1, 3)
    model.set_pca(np.zeros(784), np.eye(784))
    save(tmp_path / "m.h5", model)
    args = [a.format(ro=read_only_dir, ckpt=tmp_path / "m.h5") for a in command]
    result = CliRunner().invoke(cli, args)
    lines = result.output.strip().splitlines()
    assert (
        result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: cannot write")
    ), result.output
    target = next(a for a in args if str(read_only_dir) in a)
    assert lines[0].startswith(f"error: cannot write {target}"), result.output
    if target.endswith("new/sweep"):
        assert f"{target} (in {read_only_dir}): " in lines[0]


def test_a_full_disk_leaves_nothing_and_keeps_the_old_file(tmp_path):
    """A real full file system (a 4.5 MB tmpfs holding 3 MB already) where the machine lets us
    mount."""
    import subprocess

    from click.testing import CliRunner

    from ddse_np.cli import cli

    full = tmp_path / "full"
    full.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4500k", "tmpfs", str(full)], capture_output=True
    ).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        (full / "ballast").write_bytes(b"\0" * 3_000_000)
        (full / "run.h5").write_bytes(b"previous")
        result = CliRunner().invoke(
            cli,
            [
                "train",
                "--m",
                "64",
                "--train-fraction",
                "0.02",
                "--val-size",
                "300",
                "--epochs",
                "1",
                "--quiet",
                "--overwrite",
                "--out",
                str(full / "run.h5"),
            ],
        )
        lines = result.output.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1, result.output
        assert lines[0] == f"error: cannot write {full / 'run.h5'}: No space left on device"
        assert (full / "run.h5").read_bytes() == b"previous"
        assert sorted(p.name for p in full.iterdir()) == ["ballast", "run.h5"]
    finally:
        subprocess.run(["umount", str(full)], capture_output=True)


def _chattr_works(tmp_path) -> bool:
    """Whether ``chattr +i`` works here (the binary, the file system and CAP_LINUX_IMMUTABLE)."""
    import shutil
    import subprocess

    probe = tmp_path / "probe"
    probe.write_text("")
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode
    ):
        return False
    subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
    return True


@pytest.fixture
def immutable_checkpoint(tmp_path):
    """A resumable checkpoint of a one-epoch run, then made immutable (``chattr +i``) where the
    file system and the user allow it (probed first); else skipped.  Made mutable again
    afterwards."""
    import subprocess

    from click.testing import CliRunner

    from ddse_np.cli import cli

    if not _chattr_works(tmp_path):
        pytest.skip("chattr +i is not possible here")
    out = tmp_path / "run.h5"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--m",
            "32",
            "--train-fraction",
            "0.01",
            "--val-size",
            "200",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    subprocess.run(["chattr", "+i", str(out)], check=True, capture_output=True)
    yield out
    subprocess.run(["chattr", "-i", str(out)], capture_output=True)


@pytest.mark.parametrize(
    "how", [["--resume", "{out}", "--epochs", "3"], ["--out", "{out}", "--overwrite"]]
)
def test_a_file_that_cannot_be_replaced_is_refused_before_training(immutable_checkpoint, how):
    """An immutable file cannot be renamed over, even by root: the run is refused in one line
    before it trains (it used to train, then fail to save)."""
    from click.testing import CliRunner

    from ddse_np.cli import cli

    before = immutable_checkpoint.read_bytes()
    args = ["train", "--m", "32", "--train-fraction", "0.01", "--val-size", "200", "--quiet"]
    args = (args[:1] if how[0] == "--resume" else args) + [
        a.format(out=immutable_checkpoint) for a in how
    ]
    result = CliRunner().invoke(cli, args)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0] == (
        f"error: cannot write {immutable_checkpoint}: the existing file is immutable and "
        "cannot be replaced"
    )
    assert immutable_checkpoint.read_bytes() == before


def test_an_append_only_file_is_refused(tmp_path):
    import subprocess

    from ddse_np.errors import DDSEError
    from ddse_np.files.atomic import check_target

    if not _chattr_works(tmp_path):
        pytest.skip("chattr is not possible here")
    target = tmp_path / "log.txt"
    target.write_text("old")
    subprocess.run(["chattr", "+a", str(target)], check=True, capture_output=True)
    try:
        with pytest.raises(
            DDSEError, match="the existing file is append-only and cannot be replaced"
        ):
            check_target(target)
    finally:
        subprocess.run(["chattr", "-a", str(target)], capture_output=True)


@pytest.mark.parametrize(
    "flag, word", [("_IMMUTABLE", "immutable"), ("_APPEND_ONLY", "append-only")]
)
def test_the_file_flags_decide_before_any_write(tmp_path, monkeypatch, flag, word):
    """Where chattr cannot run (most containers): the decision on the flags as the platform
    reports them; a file without them passes, and the check only reads (the file is unchanged)."""
    from ddse_np.errors import DDSEError
    from ddse_np.files import atomic

    target = tmp_path / "run.h5"
    target.write_bytes(b"previous")
    assert atomic.check_target(target) == target and not atomic._inode_flags(target) & (
        atomic._IMMUTABLE | atomic._APPEND_ONLY
    )
    monkeypatch.setattr(atomic, "_inode_flags", lambda path: getattr(atomic, flag))
    with pytest.raises(
        DDSEError,
        match=f"^cannot write {target}: the existing file is {word} and cannot be replaced$",
    ):
        atomic.check_target(target)
    assert target.read_bytes() == b"previous"


def test_another_users_file_in_a_sticky_directory_is_refused(tmp_path, monkeypatch):
    """In a sticky directory (as /tmp) only the file's or the directory's owner (or root) may
    replace a file; as another user the rename would fail after the work, so it is refused
    before."""
    import os

    from ddse_np.errors import DDSEError
    from ddse_np.files import atomic

    sticky = tmp_path / "shared"
    sticky.mkdir()
    sticky.chmod(0o1777)
    target = sticky / "run.h5"
    target.write_bytes(b"previous")
    target.chmod(0o666)
    me = os.stat(target).st_uid
    # neither the file's owner nor the directory's
    monkeypatch.setattr(os, "geteuid", lambda: me + 1)
    with pytest.raises(DDSEError, match="belongs to another user in a sticky directory"):
        atomic.check_target(target)
    monkeypatch.setattr(os, "geteuid", lambda: me)  # the owner may
    assert atomic.check_target(target) == target
    sticky.chmod(0o777)  # not sticky: anyone who may write the directory may replace it
    monkeypatch.setattr(os, "geteuid", lambda: me + 1)
    assert atomic.check_target(target) == target


def test_a_read_only_file_is_still_replaced(tmp_path):
    """Mode 0444 refuses an open for writing to a user that is not root, but not a rename in a
    writable directory: ``check_target`` lets it pass, and the atomic write replaces it."""
    from ddse_np.files.atomic import check_target, write_text

    target = tmp_path / "notes.txt"
    target.write_text("old")
    target.chmod(0o444)
    assert check_target(target) == target
    write_text(target, "new")
    assert target.read_text() == "new"
