"""Shared pieces of the command-line tests: the CliRunner call, the one-line error check, a small
run."""

from click.testing import CliRunner

from ddse_np.cli import cli

# the smallest training run: m = 16, 2% of the training images, 300 validation images, one epoch
TINY_TRAIN = [
    "--m",
    "16",
    "--train-fraction",
    "0.02",
    "--val-size",
    "300",
    "--epochs",
    "1",
    "--quiet",
]
SMALL = ["--m", "32", "--train-fraction", "0.04", "--val-size", "500", "--epochs", "1", "--quiet"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, code=None):
    assert result.exit_code != 0 if code is None else result.exit_code == code
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]
