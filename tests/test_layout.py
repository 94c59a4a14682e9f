"""The package's layers (docs/design.md, "Layout of the repository"): a module imports only its
own layer and the layers below it, and no two modules import each other, directly or around."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ddse_np"
LAYERS = [
    "core",
    "data",
    "nn",
    "files",
    "training",
    "experiments",
    "sklearn",
    "cli",
    "entry",
]  # lowest first
CORE = {"errors", "backend", "fast", "version"}


def layer(module: str) -> str:
    if module in ("", "__main__"):
        return "entry"
    top = module.split(".")[0]
    return "core" if top in CORE else top


def modules():
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_pkg else parts)
        found[name] = (path, is_pkg)
    return found


def imports(name, path, is_pkg, known):
    """The package's modules that module ``name`` imports (relative imports resolved)."""
    package = name.split(".") if is_pkg else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1] if node.level > 1 else package
            target = ".".join([*base, *([node.module] if node.module else [])])
            candidates = (
                [f"{target}.{a.name}".lstrip(".") for a in node.names] if not node.module else []
            )
            hits = [c for c in candidates if c in known] or [target]
            yield from (h for h in hits if h in known)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ddse_np"):
            yield node.module[len("ddse_np.") :] if node.module != "ddse_np" else ""


def test_each_module_imports_only_its_layer_and_those_below():
    known = modules()
    wrong = []
    for name, (path, is_pkg) in known.items():
        for target in imports(name, path, is_pkg, known):
            if LAYERS.index(layer(target)) > LAYERS.index(layer(name)):
                wrong.append(f"{name} ({layer(name)}) imports {target} ({layer(target)})")
    assert not wrong, wrong


def test_no_import_cycle():
    known = modules()
    graph = {
        name: set(imports(name, path, is_pkg, known)) - {name}
        for name, (path, is_pkg) in known.items()
    }
    for name in graph:  # a package imports its own modules (its __init__): not a cycle of concepts
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".") or name == ""}
    state = {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                raise AssertionError(f"import cycle: {' -> '.join([*path, node, target])}")
            if target not in state:
                visit(target, [*path, node])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
