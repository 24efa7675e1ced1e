"""The Python API: the caller's torch is left as it was, signatures list their allowed values, results are
DataFrames or objects Jupyter shows, figures are objects, progress is a bar; the README's and docs/api.md's
examples run as written (slow: ``make examples`` runs them in CI); ``load`` gives the declared dtypes."""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path

import pytest

import rnnbench
from rnnbench import api

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"


def _python_block(path: Path, section: str | None = None) -> str:
    text = path.read_text(encoding="utf-8")
    if section is not None:
        text = text[text.index(section) :]
        text = text[: text.index("\n## ", 1)] if "\n## " in text[1:] else text
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    return code


@pytest.mark.slow
@pytest.mark.parametrize(
    ("doc", "section"), [("README.md", "## From Python or a notebook"), ("docs/api.md", None)]
)
def test_the_documented_examples_run(doc, section, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = _python_block(ROOT / doc, section)
    exec(compile(code, f"{doc} (Python)", "exec"), {"__name__": "example"})
    out = capsys.readouterr().out
    assert "ratio_low" in out and ("verdict" in out)
    if doc == "docs/api.md":
        assert "→ exit 0" in out and "report.md" in out and "ratio_heatmap" in out


@pytest.mark.slow
def test_the_notebook_shows_a_bar_tables_and_a_figure(tmp_path: Path) -> None:
    """docs/notebook.ipynb in a real kernel (nbmake only checks that no cell fails): the progress bar, the
    DataFrames and the gate as HTML tables, the figure as a PNG — not ``<Figure size … with 2 Axes>``."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(ROOT / "docs" / "notebook.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    kinds = [set(o.get("data", {})) | {o.get("name", "")} for o in outputs]
    assert sum("text/html" in k for k in kinds) >= 4  # the run's rows, the ratios, the gate, the report
    assert any("image/png" in k for k in kinds)
    bar = [
        o
        for o in outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {}) or o.get("name") == "stderr"
    ]
    assert bar  # tqdm: a widget with ipywidgets installed, a text line on stderr without
    assert not [o for o in outputs if o.get("output_type") == "error"]


def _torch_state() -> dict:
    import torch

    from rnnbench.measure.numerics import tf32_flags

    return {
        "threads": torch.get_num_threads(),
        "tf32": tf32_flags(),
        "cudnn": (
            torch.backends.cudnn.enabled,
            torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic,
        ),
        "mkldnn": torch.backends.mkldnn.enabled,
        "rng": torch.random.get_rng_state().clone(),
        "grad": torch.is_grad_enabled(),
        "dtype": torch.get_default_dtype(),
    }


def _same(before: dict, after: dict) -> list[str]:
    import torch

    return [
        key
        for key in before
        if not (torch.equal(before[key], after[key]) if key == "rng" else before[key] == after[key])
    ]


@pytest.fixture
def unusual_torch():
    """The caller's torch in a state rnnbench would never choose, restored after the test."""
    import torch

    from rnnbench.measure.numerics import tf32_policy

    threads = torch.get_num_threads()
    with tf32_policy(True):
        torch.set_num_threads(2 if threads != 2 else 3)
        torch.backends.cudnn.benchmark = True
        torch.set_grad_enabled(False)
        torch.manual_seed(1234)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.backends.cudnn.benchmark = False
            torch.set_grad_enabled(True)


def test_train_restores_every_torch_setting_it_changes(unusual_torch, tmp_path: Path) -> None:
    """Before: threads restored, but TF32 forced off and the global random state reseeded per run."""
    before = _torch_state()
    frame = rnnbench.train(
        task="adding", arch=["lstm", "gru"], seeds=1, seq_len=10, steps=6, lr=1e-2, eval_every=3,
        eval_size=16, val_size=16, threads=1, output=tmp_path, progress=False,
    )  # fmt: skip
    assert len(frame) == 2 and set(frame["status"]) == {"ok"}
    assert _same(before, _torch_state()) == []


def test_the_state_guard_restores_on_failure_too(unusual_torch) -> None:
    import torch

    from rnnbench.measure.numerics import set_tf32

    before = _torch_state()
    with pytest.raises(RuntimeError), api.torch_state_kept():
        torch.set_num_threads(1)
        set_tf32(False)
        torch.manual_seed(0)
        torch.set_grad_enabled(True)
        torch.backends.cudnn.benchmark = False
        raise RuntimeError("a failed call")
    assert _same(before, _torch_state()) == []


def test_run_measures_in_fresh_processes_and_leaves_the_caller_as_it_was(
    unusual_torch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Before: ``run(threads=1)`` ran its one round here and left the caller on one thread, TF32 off."""
    from rnnbench.measure import sweep

    def not_here(*_args, **_kwargs):
        raise AssertionError("a round ran in the caller's process")

    monkeypatch.setattr(sweep, "run_round_here", not_here)
    before = _torch_state()
    events = []
    frame = rnnbench.run(
        arch=["lstm", "gru"], mode="inference", seq_len=8, hidden=8, batch=2, rounds=1, threads=1, budget=0.05,
        warmup=0.02, output=tmp_path, on_progress=events.append,
    )  # fmt: skip
    assert _same(before, _torch_state()) == []
    assert set(frame["threads"]) == {1} and len(frame) == 2
    assert sum(e.kind == "done" for e in events) == 2
    bar = capsys.readouterr().err  # tqdm's bar (text outside Jupyter) on stderr
    assert "2/2" in bar and "case" in bar
    ratios = rnnbench.ratios(frame)
    assert list(ratios.columns[:3]) == ["mode", "device", "dtype"]
    assert ratios["method"].tolist() == ["samples"]  # one process's samples: never a verdict over rounds
    assert not ratios["verdict"].isin(["GRU faster", "LSTM faster"]).any()


def test_signatures_list_the_allowed_values() -> None:
    """Before: ``help(rnnbench.run)`` showed ``arch: 'Values' = None``."""
    from rnnbench.core import vocab
    from rnnbench.learn.presets import TRAIN_PRESETS
    from rnnbench.learn.tasks import TASKS
    from rnnbench.measure.presets import RUN_PRESETS
    from rnnbench.present.render import FORMATS

    assert typing.get_args(api.Arch) == vocab.ARCHS
    assert typing.get_args(api.Impl) == vocab.IMPLS
    assert typing.get_args(api.Mode) == tuple(m for m in vocab.MODES if m != "ddp-train")
    assert typing.get_args(api.Dtype) == vocab.DTYPES
    assert typing.get_args(api.Workload) == vocab.WORKLOADS
    assert typing.get_args(api.Arm) == vocab.ARMS
    assert typing.get_args(api.Task) == tuple(TASKS.names())
    assert set(typing.get_args(api.RunPreset)) == set(RUN_PRESETS.names())
    assert set(typing.get_args(api.TrainPreset)) == set(TRAIN_PRESETS.names())
    assert typing.get_args(api.ReportFormat) == FORMATS
    shown = str(inspect.signature(rnnbench.run).parameters["arch"])
    assert "Literal['lstm', 'gru', 'rnn', 'mingru', 'minlstm']" in shown, shown
    assert "Literal['quick', 'full', 'fastrnns', 'deepbench', 'scan']" in str(inspect.signature(rnnbench.run))
    assert inspect.signature(rnnbench.run).parameters["rounds"].default == 5  # one round never gives a verdict
    for name in rnnbench.__all__[1:]:
        function = getattr(rnnbench, name)
        assert function.__doc__ and inspect.signature(function).return_annotation is not inspect.Signature.empty
    with pytest.raises(AttributeError):
        _ = rnnbench.nothing_here  # type: ignore[attr-defined]


def test_compare_is_a_table(tmp_path: Path) -> None:
    import pandas as pd

    run = GOLDEN / "20261102-100000-bbbb"
    gate = rnnbench.compare(run, run)
    assert isinstance(gate.frame, pd.DataFrame) and len(gate.frame) == len(gate.cases) > 0
    assert list(gate.frame.columns[:5]) == ["name", "verdict", "ratio", "ratio_low", "ratio_high"]
    assert not gate.frame["verdict"].isin(["regression", "improvement", "not_comparable"]).any()
    html = gate._repr_html_()
    assert html.count("<tr>") == len(gate.frame) and f"exit {gate.exit_code}" in html
    assert repr(gate).startswith("<GateResult: ") and isinstance(gate.exit_code, int)


def test_report_returns_its_figures_and_tables(tmp_path: Path) -> None:
    """Before: a path. The API's default formats are the command's (svg included)."""
    from matplotlib.figure import Figure

    from rnnbench.present.render import FORMATS

    assert inspect.signature(rnnbench.report).parameters["formats"].default == FORMATS
    page = rnnbench.report(GOLDEN / "20261102-100000-bbbb", output=tmp_path / "r", formats=("md",))
    assert [p.name for p in page.files] == ["report.md"]
    assert (
        "](" not in (tmp_path / "r" / "report.md").read_text().split("## ", 1)[1]
        or ".png" not in (tmp_path / "r" / "report.md").read_text()
    )  # without png files, no image links (a job summary would show them broken)
    assert list(page.claims.columns) == ["claim", "verdict", "summary"] and len(page.claims) == 9
    assert isinstance(page.figures["ratio_heatmap"], Figure)
    assert "<table" in page._repr_html_() and "GRU/LSTM" in page._repr_html_()


def test_load_declared_dtypes() -> None:
    frame = rnnbench.load(GOLDEN)
    assert str(frame["median_s"].dtype) == "float64"
    assert str(frame["seq_len"].dtype) == "int64" and str(frame["busy"].dtype) == "bool"
    assert frame["case_id"].map(type).eq(str).all()
    train = rnnbench.load(GOLDEN, "train_summary")
    assert len(train) and str(train["seed"].dtype) == "int64"
