"""Interrupts with real processes: SIGINT/SIGTERM save a resumable checkpoint; SIGKILL mid-save
never leaves a corrupt file at the target."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ddse_np.cli import cli
from ddse_np.files.checkpoint import load
from ddse_np.training.resume import resume_run

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def wait_for(path, proc, seconds=120):
    deadline = time.time() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_a_resumable_checkpoint(tmp_path, signum, code):
    out = tmp_path / "run.h5"
    # a million epochs, and a plateau schedule that cannot end before 4 x 100,000 validations:
    # the run is still training when the signal comes, on any machine
    cmd = [
        sys.executable,
        str(ROOT / "cli.py"),
        "train",
        "--m",
        "32",
        "--train-fraction",
        "0.1",
        "--val-size",
        "500",
        "--epochs",
        "1000000",
        "--patience",
        "100000",
        "--quiet",
        "--checkpoint-every",
        "1",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    wait_for(out, proc)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: stopped by {signal.Signals(signum).name}"
    )
    assert "ddse train --resume" in lines[0]
    model, extras = load(out)
    progress = extras["train"]["progress"]
    assert progress["step"] > 0 and "velocity" in extras["resume"]
    result = CliRunner().invoke(
        cli, ["train", "--resume", str(out), "--epochs", str(progress["epoch"] + 1), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    _, after = load(out)
    assert after["train"]["progress"]["epoch"] == progress["epoch"] + 1


WRITER = """
import sys
from ddse_np.files.checkpoint import load, save
model, extras = load(sys.argv[1])
print("ready", flush=True)
while True:
    save(sys.argv[2], model, extras["history"], extras["train"], {})
"""


def test_sigkill_while_saving_never_corrupts_the_target(tmp_path):
    from ddse_np.nn.models import DDSE

    source = tmp_path / "source.h5"
    model = DDSE.create(784, 1024, 2, 196)
    model.set_pca(np.zeros(784), np.eye(784))
    from ddse_np.files.checkpoint import save

    save(source, model)
    target = tmp_path / "target.h5"
    save(target, model)
    rng = np.random.default_rng(0)
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(source), str(target)],
            stdout=subprocess.PIPE,
            text=True,
            env=dict(ENV, PYTHONPATH=str(ROOT)),
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        loaded, _ = load(target)  # the previous or the new file, whole
        assert np.array_equal(loaded.params["W1"], model.params["W1"])


SWEEP = """
import multiprocessing
import sys
multiprocessing.set_start_method("fork")  # the workers inherit the patched save interval below
from ddse_np.experiments import jobs as sweep_jobs
from ddse_np.cli import cli
sweep_jobs.PARTIAL_EVERY_SECONDS = 0.0  # a partial run at every epoch's end: the test sees \
when both jobs train
cli.main(sys.argv[1:], prog_name="ddse")
"""


def pool_workers(pid: int) -> list:
    """The pids of a process's forked children, not multiprocessing's helpers (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"resource_tracker" not in command and b"forkserver" not in command:
            found.append(int(stat.parent.name))
    return found


def error_lines(stderr: str) -> list:
    """The sweep's lines but the note that 2 workers outnumber the cores (on a 1-core machine, or
    under taskset -c 0, the sweep rightly says so)."""
    return [
        line
        for line in stderr.strip().splitlines()
        if not line.startswith("note: --workers 2 starts 2")
    ]


def sweep_with_two_jobs_running(out):
    """A sweep of 3 tiny jobs on 2 workers, returned once both running jobs have saved a partial
    run.  The jobs cannot finish on any machine: a million epochs on the step schedule (no early
    end)."""
    args = [
        "sweep",
        "depth",
        "--methods",
        "ddse",
        "--values",
        "1",
        "--seeds",
        "3",
        "--workers",
        "2",
        "--set",
        "epochs=1000000",
        "--set",
        "lr=0.01",
        "--set",
        "m=12",
        "--set",
        "train_fraction=0.05",
        "--set",
        "val_size=200",
        "--set",
        "schedule=step",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", SWEEP, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(ENV, PYTHONPATH=str(ROOT)),
        start_new_session=True,
    )
    deadline = time.time() + 120
    while len(list((out / "partial").glob("*-seed?.h5"))) < 2:  # saved, not a temporary file
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "the jobs did not start"
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize(
    "signum, target",
    [(signal.SIGTERM, "sweep"), (signal.SIGINT, "group"), (signal.SIGTERM, "worker")],
)
def test_a_signal_stops_a_sweep_saving_its_running_jobs(tmp_path, signum, target):
    """SIGTERM to the sweep, a Ctrl-C (which reaches its workers too), or a signal to one worker
    only: the two running jobs save their partial runs at once, the queued one never starts, and
    the sweep exits with one line (status 1 when the sweep itself was not signalled)."""
    out = tmp_path / "s"
    proc = sweep_with_two_jobs_running(out)
    if target == "group":
        os.killpg(proc.pid, signum)
    elif target == "worker":
        os.kill(pool_workers(proc.pid)[0], signum)
    else:
        proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == (1 if target == "worker" else 128 + signum), stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    by = "a signal to a job" if target == "worker" else signal.Signals(signum).name
    assert lines[0].startswith(f"error: stopped by {by}: 0 job(s) recorded, 3 not finished (")
    assert lines[0].count(": partial run saved") == 2 and "3 not finished" in lines[0]
    # queued (or handed to a worker, which did not start it): only counted
    assert "seed2" not in lines[0]
    assert lines[0].endswith(
        f"partial runs in {out.resolve() / 'partial'}; run the same command again to continue"
    )
    partial = sorted(p.name for p in (out / "partial").iterdir())
    # seed 2 was queued: cancelled, never started
    assert partial == [
        "ddse-1-seed0.h5",
        "ddse-1-seed1.h5",
    ]
    for name in partial:
        assert load(out / "partial" / name)[1]["train"]["progress"]["step"] > 0


def test_a_worker_killed_outright_stops_the_sweep_with_one_line_and_the_other_saves_its_run(
    tmp_path,
):
    """SIGKILL to one pool worker (as the out-of-memory killer does): the pool is broken, so the
    sweep stops its other worker (SIGTERM: its job saves its partial run mid-epoch) and exits 1
    with one line saying what happened and how to continue; no traceback."""
    from ddse_np.experiments.runner import WORKER_LOST

    out = tmp_path / "s"
    proc = sweep_with_two_jobs_running(out)
    os.kill(pool_workers(proc.pid)[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    assert error_lines(stderr) == [
        f"error: stopped by {WORKER_LOST}: 0 job(s) recorded, 3 not finished; "
        f"partial runs in {out.resolve() / 'partial'}; run the same command again to continue"
    ]
    partial = sorted((out / "partial").glob("*-seed?.h5"))  # not what a save killed midway left
    assert [p.name for p in partial] == ["ddse-1-seed0.h5", "ddse-1-seed1.h5"]
    # the killed job's last save was at an epoch's end; the other saved where SIGTERM stopped it:
    # mid-epoch, or at an epoch's end when the signal came during its last batch (about 1 in 20)
    progress = [load(p)[1]["train"]["progress"] for p in partial]
    assert min(p["batch"] for p in progress) == 0 and all(p["step"] > 0 for p in progress), progress
    for p in partial:  # both resume
        assert resume_run(p).progress.step > 0


def test_signals_held_while_a_pool_starts_are_delivered_after(tmp_path):
    """A Ctrl-C while the pool's processes start (signals_held) is not lost: the sweep's request
    turns true when the block ends, not inside it."""
    import threading

    from ddse_np.training.interrupt import signals_held, stop_on_signals

    with stop_on_signals() as stop:
        with signals_held():
            # to this thread, which holds it
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)
            time.sleep(0.05)
            assert not stop()
        assert stop() and stop.name == "SIGINT"


CTRL_C_WHILE_LOADING = """
import builtins, os, signal, sys
import ddse_np.__main__ as entry
assert "numpy" not in sys.modules, "the package and its entry point must load nothing heavy"
real_import = builtins.__import__
def import_then_ctrl_c(name, *args, **kwargs):
    if name == "numpy":  # a Ctrl-C while the command line's modules load
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)
builtins.__import__ = import_then_ctrl_c
sys.argv = ["ddse", "--help"]
entry.main()
"""


def test_ctrl_c_while_the_command_loads_is_one_line_and_130(tmp_path):
    # SIGINT at its default in the child, as in a terminal: a shell's background job (`pytest &` in
    # a script) would hand it down ignored, and an ignored Ctrl-C rightly stays ignored (next test)
    proc = subprocess.run(
        [sys.executable, "-c", CTRL_C_WHILE_LOADING],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # without the entry point's handler: a traceback, and Python re-raises the SIGINT (status -2)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "error: interrupted\n" and proc.stdout == ""


@pytest.mark.parametrize("before", ["signal.default_int_handler", "signal.SIG_IGN"])
def test_after_loading_sigint_is_as_before(before):
    """The entry point hands SIGINT back: once loaded, a Ctrl-C raises KeyboardInterrupt as usual
    (which the commands turn into a saved checkpoint or one line); one ignored by the caller
    (``ddse ... &`` in a script) stays ignored throughout."""
    code = (
        "import signal, ddse_np.__main__ as entry, ddse_np.cli as cli\n"
        f"signal.signal(signal.SIGINT, {before})\n"
        f"cli.main = lambda: print(signal.getsignal(signal.SIGINT) is {before})\n"
        "entry.main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout == "True\n", proc.stderr
