"""The repository stands alone: no pointers outside it, and docs/gradients.md names real code."""

import importlib
import inspect
import pkgutil
import re
import subprocess
from pathlib import Path

import pytest

import ddse_np

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = ("../" + "shared", "DESIGN" + ".md")  # spelled apart so this file does not match itself
BINARY = (".gz", ".png", ".h5", ".whl")


def tracked_files():
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.stdout.splitlines() if not name.endswith(BINARY)]


def test_no_tracked_file_points_outside_the_repository():
    offenders = []
    for path in tracked_files():
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        offenders += [f"{path.relative_to(ROOT)}: {word}" for word in OUTSIDE if word in text]
    assert not offenders, offenders


def test_design_document_cites_the_paper():
    text = (ROOT / "docs" / "design.md").read_text()
    assert "arXiv:1608.06374" in text
    assert (
        "Deep Double Sparsity Encoder: Learning to Sparsify Not Only Features But Also Parameters"
        in text
    )
    assert "docs/design.md" in (ROOT / "README.md").read_text()


def code_names():
    """Every public function, class and Class.method defined in ddse_np."""
    names = set()
    modules = [ddse_np] + [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(ddse_np.__path__, "ddse_np.")
        if info.name != "ddse_np.mnist"
    ]
    for module in modules:
        for name, value in vars(module).items():
            if inspect.isfunction(value) or inspect.isclass(value):
                names.add(name)
                if inspect.isclass(value):
                    names.update(
                        f"{name}.{attr}" for attr in dir(value) if not attr.startswith("__")
                    )
    return names


SNAKE = r"[a-z]{2,}(?:_[a-z]{2,})+"  # linear_forward, loss_and_grads (not x_pca, theta_i)
METHOD = r"[A-Z]\w*\.[a-z_]\w*"  # DDSE.features, Model.forward_train


def cited_names(text):
    """Code the document cites: calls `name(...)`, whole backquoted names, and the
    '(name)' / '(name / name)' annotations beside the equations."""
    cited = {
        name
        for name in re.findall(r"\b([A-Za-z_][\w.]*)\(", text)
        if re.fullmatch(SNAKE, name) or re.fullmatch(METHOD, name)
    }
    cited |= {
        chunk
        for chunk in re.findall(r"`([^`]+)`", text)
        if re.fullmatch(SNAKE, chunk) or re.fullmatch(METHOD, chunk)
    }
    for group in re.findall(r"\(([a-z_]+(?:\s*/\s*[a-z_]+)*)\)", text):
        cited |= {w.strip() for w in group.split("/") if re.fullmatch(SNAKE, w.strip())}
    return cited


def test_every_function_that_gradients_md_names_exists():
    text = (ROOT / "docs" / "gradients.md").read_text()
    cited = cited_names(text) - {"logits_rl"}  # the one index expression the parser takes for code
    # the parser works
    assert {
        "stage_backward",
        "DDSE.features",
        "linear_backward",
        "project_params",
    } <= cited
    missing = sorted(cited - code_names())
    assert not missing, f"docs/gradients.md names code that does not exist: {missing}"


def test_the_check_catches_a_stale_name():
    assert "DDSE.forward_train_old" in cited_names("the `DDSE.forward_train_old` closure")
    assert "DDSE.forward_train_old" not in code_names()
