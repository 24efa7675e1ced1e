"""The house's layers, enforced: each package imports only from the layers below it (README, "Design"), the
half that reports never imports torch, and the README's module map names every module."""

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
    "results": BASE | {"core", "results"},
    # analyse.stats is a leaf (NumPy only): the runner summarises each case's samples with it.
    "measure": BASE | {"core", "results", "measure", "analyse.stats"},
    # training builds on the measuring half: its models, device handling and environment capture
    "learn": BASE | {"core", "results", "learn", "measure"},
    "analyse": BASE | {"core", "results", "analyse"},
    "present": BASE | {"core", "results", "analyse", "present"},
    "cli": BASE | {"core", "results", "measure", "learn", "analyse", "present", "cli"},
    # the Python API: the library as functions, beside the CLI (never imports it)
    "api": BASE | {"core", "results", "measure", "learn", "analyse", "present"},
}
NO_TORCH = ("core", "results", "analyse", "present", "errors", "registry")


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
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    design = readme[readme.index("## Design") : readme.index("## Development")]
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
    assert not missing, "README 'Design' module map lacks: " + ", ".join(missing)
