"""Option fuzzing: any value of any option of every command ends in exit 0, 1 or 2, never a
traceback.

One option is drawn at a time, on top of a command that is quick on a tiny MNIST directory, so
that every draw runs to its end in well under a second or two.  (`export` has no option that
takes a value: its OUT argument is drawn instead.)  Every run happens in a temporary directory: a
drawn path is written there.  A numpy RuntimeWarning (overflow, invalid value) is a failure too:
a user would see it printed.
"""

import os
import tempfile
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddse_np.cli import cli

from conftest import write_mnist_dir

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


@contextmanager
def inside_a_new_directory(root):
    """cwd = a fresh directory under ``root`` for the block (a drawn relative path lands there)."""
    previous = os.getcwd()
    os.chdir(tempfile.mkdtemp(dir=root))
    try:
        yield
    finally:
        os.chdir(previous)


VALUES = st.one_of(  # integers skip 3,000 .. 10^6, where a valid --m would train for minutes
    st.one_of(st.integers(-(10**12), -1), st.integers(0, 3000), st.integers(10**6, 10**12)).map(
        str
    ),
    st.sampled_from(
        [
            "0",
            "1",
            "-1",
            ".25",
            "1e-3",
            "nan",
            "inf",
            "-inf",
            "1e308",
            "",
            " ",
            "abc",
            "0x10",
            "numpy",
            "cupy",
            "ddse",
            "best",
            "lista:lr=0.1",
            "lr=.05",
            "=",
            "1,2",
            "tcp://127.0.0.1:9",
            "a\x00b",
            "/",
            "..",
            "-",
            "--help",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    data = write_mnist_dir(root / "mnist", n_train=200, n_test=50)
    base = ["--data", str(data), "--m", "8", "--val-size", "40", "--epochs", "1", "--quiet"]
    assert CliRunner().invoke(cli, ["train", *base, "--out", str(root / "a.h5")]).exit_code == 0
    return root, data, base


def options(command):
    # the network is tested elsewhere
    return [
        p
        for p in cli.commands[command].params
        if p.param_type_name == "option"
        and not p.is_flag
        and p.name not in ("help", "scheduler", "connect_timeout")
    ]


def run_one(world, command, option, value):
    root, data, base = world
    prefix = {
        "train": ["train", *base, "--out", str(root / "out.h5"), "--overwrite"],
        "eval": ["eval", str(root / "a.h5"), "--data", str(data)],
        "inspect": ["inspect", str(root / "a.h5"), "--data", str(data)],
        "compare": ["compare", str(root / "a.h5"), str(root / "a.h5"), "--data", str(data)],
        "predict": ["predict", str(root / "a.h5"), str(root / "p.csv"), "--overwrite"],
        "sweep": ["sweep", "depth", "--plot-only", "--out", str(root / "no-sweep")],
    }[command]
    with inside_a_new_directory(root):  # a drawn path is written there, not in the checkout
        result = CliRunner().invoke(cli, prefix + [option.opts[0], value])
    assert result.exit_code in (0, 1, 2), (option.opts[0], value, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        option.opts[0],
        value,
        repr(result.exception),
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["train", "eval", "inspect", "sweep", "compare", "predict"])
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # the same draws on every run: CI is not flaky
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_option_value_ends_cleanly(world, command, data):
    option = data.draw(st.sampled_from(options(command)))
    run_one(world, command, option, data.draw(VALUES))


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # the same draws on every run: CI is not flaky
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(out=VALUES, overwrite=st.booleans())
def test_export_to_any_path_ends_cleanly(world, out, overwrite):
    """export takes no option with a value: its OUT argument is fuzzed instead."""
    root, _, _ = world
    with inside_a_new_directory(root):
        result = CliRunner().invoke(
            cli, ["export", str(root / "a.h5"), out] + (["--overwrite"] if overwrite else [])
        )
    assert result.exit_code in (0, 1, 2), (out, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        out,
        repr(result.exception),
    )
