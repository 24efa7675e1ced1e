"""The Python API: the README's example runs as written, ``import rnnbench`` stays cheap, and ``load`` gives
the declared dtypes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import rnnbench

ROOT = Path(__file__).resolve().parents[1]


def _readme_example() -> str:
    section = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_example(), "README.md (Python API)", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    assert "median_s" in out and "→ exit 0" in out and "report.md" in out
    runs = [p for p in (tmp_path / "results").iterdir() if p.is_dir() and p.name != "report"]
    assert len(runs) == 2


def test_the_surface_is_typed() -> None:
    """(That ``import rnnbench`` is cheap is ``test_imports.py``'s probe.)"""
    assert set(rnnbench.__all__) >= {"run", "load", "train", "compare", "report"}
    for name in ("run", "load", "train", "compare", "report"):
        function = getattr(rnnbench, name)
        assert function.__doc__ and function.__annotations__.get("return"), name
    with pytest.raises(AttributeError):
        _ = rnnbench.nothing_here  # type: ignore[attr-defined]


def test_load_declared_dtypes() -> None:
    frame = rnnbench.load(Path(__file__).parent / "golden")
    assert str(frame["median_s"].dtype) == "float64"
    assert str(frame["seq_len"].dtype) == "int64" and str(frame["busy"].dtype) == "bool"
    assert frame["case_id"].map(type).eq(str).all()
    train = rnnbench.load(Path(__file__).parent / "golden", "train_summary")
    assert len(train) and str(train["seed"].dtype) == "int64"
