"""The house's layers, enforced: each package imports only from the layers below it (docs/design.md), the
half that reports never imports torch, and the module map in docs/design.md names every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rnnbench"

BASE = {"rnnbench", "errors", "registry"}
ALLOWED: dict[str, set[str]] = {
    "errors": {"rnnbench"},
    "registry": {"rnnbench", "errors"},
    "core": BASE | {"core"},
    # the statistics leaf: NumPy/SciPy (and ruptures), nothing of rnnbench's but itself
    "stats": {"stats"},
    "results": BASE | {"core", "results"},
    "measure": BASE | {"core", "results", "stats", "measure"},
    # training builds on the measuring half: its models, device handling and environment capture
    "learn": BASE | {"core", "results", "stats", "learn", "measure"},
    "analyse": BASE | {"core", "results", "stats", "analyse"},
    "gate": BASE | {"core", "results", "stats", "gate"},
    # the A/B orchestration measures through processes; it reads a worker's grid options with measure's parser
    "ab": BASE | {"core", "results", "stats", "gate", "measure", "ab"},
    "present": BASE | {"core", "results", "stats", "analyse", "gate", "present"},
    "cli": BASE | {"core", "results", "stats", "measure", "learn", "analyse", "gate", "ab", "present", "cli"},
    # the Python API: the library as functions, beside the CLI (never imports it)
    "api": BASE | {"core", "results", "stats", "measure", "learn", "analyse", "gate", "ab", "present"},
}
NO_TORCH = ("core", "results", "stats", "analyse", "gate", "ab", "present", "errors", "registry")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "rnnbench"


def _allowed(target: str, allowed: set[str]) -> bool:
    rest = target.split(".", 1)[1] if "." in target else "rnnbench"
    if rest.startswith("__"):  # the package's own dunders, e.g. __version__
        return True
    return any(rest == a or rest.startswith(a + ".") for a in allowed)


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, path in _modules().items():
        layer = _layer(module)
        if layer in ("rnnbench", "__main__"):
            continue
        allowed = ALLOWED[layer]
        for target in _imports(path):
            if target.startswith("rnnbench.") and not _allowed(target, allowed):
                # "from rnnbench.x import name": the module is what counts, not the imported name
                if target.rsplit(".", 1)[0] != "rnnbench" and _allowed(target.rsplit(".", 1)[0], allowed):
                    continue
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_the_reporting_half_never_imports_torch() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, path in _modules().items()
        if _layer(module) in NO_TORCH
        for target in _imports(path)
        if target == "torch" or target.startswith("torch.")
    ]
    assert not wrong, "\n".join(wrong)


def test_every_module_is_in_the_readme_module_map() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    missing = []
    for path in _modules().values():
        if path.name in ("__init__.py", "__main__.py"):
            continue
        rel = path.relative_to(PACKAGE).with_suffix("")
        folder, name = "/".join(rel.parts[:-1]), rel.parts[-1]
        # named as `folder/name.py`, or in a row whose first cell is the folder listing `name`
        if f"`{rel.as_posix()}.py`" in design:
            continue
        row = re.search(rf"^\| `{re.escape(folder)}/` \|(.*)$", design, re.M) if folder else None
        if row and re.search(rf"`{re.escape(name)}`", row.group(1)):
            continue
        missing.append(f"{rel.as_posix()}.py")
    assert not missing, "docs/design.md's module map lacks: " + ", ".join(missing)


def _module_graph() -> dict[str, set[str]]:
    """Module → the rnnbench modules it imports (``from rnnbench.x import name`` counts ``rnnbench.x``, or
    ``rnnbench.x.name`` when that is a module itself), lazy imports inside functions included."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for target in _imports(path):
            if not target.startswith("rnnbench."):
                continue
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_between_modules_even_inside_a_package() -> None:
    """A circle inside a package (gate ↔ paired importing each other's privates, as before the gate got its
    own package) is as much a tangle as one between layers, even when a lazy import keeps it running.
    (A package's ``__init__`` importing its own submodules is not a circle of logic and is left out.)"""
    graph = {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in _module_graph().items()}
    assert not _cycles(graph), _cycles(graph)


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


PROCESS_CALLS = {
    ("subprocess", None),
    ("os", "fork"),
    ("os", "forkpty"),
    ("os", "kill"),
    ("os", "killpg"),
    ("os", "posix_spawn"),
    ("os", "posix_spawnp"),
    ("os", "system"),
    ("os", "popen"),
    ("multiprocessing", None),
    ("concurrent.futures", "ProcessPoolExecutor"),
    ("signal", "pthread_kill"),
}
"""What starts (or signals) another process: a module that imports these (``None``: anything from it)."""

PROCESS_PACKAGES = ("measure", "ab")
FORKS_ITSELF = {"rnnbench.present.plots"}
"""Draws figures in forked copies of its own interpreter (``multiprocessing``'s fork pool): no other program
is started, nothing outlives the call — named here rather than hidden."""


def _process_uses(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                whole = [mod for mod, name in PROCESS_CALLS if name is None]
                if any(alias.name == mod or alias.name.startswith(mod + ".") for mod in whole):
                    out.append(f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (node.module, None) in PROCESS_CALLS or (node.module, alias.name) in PROCESS_CALLS:
                    out.append(f"from {node.module} import {alias.name}")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in PROCESS_CALLS
        ):
            out.append(f"{node.value.id}.{node.attr}")
    return out


def test_only_measure_and_ab_start_processes() -> None:
    """The A/B orchestration is the only package outside ``measure`` that starts (or kills) processes."""
    wrong = []
    for module, path in _modules().items():
        if _layer(module) in PROCESS_PACKAGES or module in FORKS_ITSELF:
            continue
        wrong += [f"{module}: {use}" for use in _process_uses(path)]
    assert not wrong, "\n".join(wrong)


def test_the_process_scan_sees_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import subprocess\nimport os\nos.killpg(1, 9)\nfrom multiprocessing import Pool\n")
    assert set(_process_uses(sample)) == {"import subprocess", "os.killpg", "from multiprocessing import Pool"}
    assert _process_uses(PACKAGE / "ab" / "channel.py")  # the real coordinator side is seen too
