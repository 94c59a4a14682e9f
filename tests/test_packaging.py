"""A regular install (not editable): the package carries MNIST and no top-level `cli` module."""

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from clitools import TINY_TRAIN

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment with `pip install .` of this checkout (dependencies borrowed
    from the test environment through a .pth file, so nothing else is installed)."""
    if not hasattr(sys, "real_prefix") and sys.prefix == sys.base_prefix:
        pytest.skip("needs to run inside a virtual environment (the README's install)")
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = Path(
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (target / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DDSE_DATA")}
    # the tracked files only: no stale build/ in the wheel
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode:
        pytest.skip("not a git checkout")
    for name in listed.stdout.splitlines():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "-q", str(source)],
        capture_output=True,
        text=True,
        env=env,
        cwd=venv,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return venv, env


def test_no_top_level_cli_module_and_the_package_is_the_installed_one(installed, tmp_path):
    venv, env = installed
    python = str(venv / "bin" / "python")
    where = subprocess.run(
        [
            python,
            "-c",
            "import ddse_np, ddse_np.data.mnist as d; "
            "print(ddse_np.__file__); print(d.bundled_mnist())",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout.split()
    assert where[0].startswith(str(venv)) and where[1].startswith(str(venv))  # not the checkout
    clash = subprocess.run(
        [python, "-c", "import cli"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert clash.returncode == 1 and "No module named 'cli'" in clash.stderr


def test_installed_ddse_trains_on_the_bundled_mnist_from_any_directory(installed, tmp_path):
    venv, env = installed
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    result = subprocess.run(
        [
            str(venv / "bin" / "ddse"),
            "train",
            *TINY_TRAIN,
            "--out",
            "run.h5",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=elsewhere,
    )
    assert result.returncode == 0, result.stderr
    assert "test error" in result.stdout and (elsewhere / "run.h5").is_file()
