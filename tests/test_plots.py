"""Every figure is drawn from the golden results with the object API, one colour per architecture, labelled
axes, and written as PNG and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from matplotlib.colors import to_hex

from rnnbench.analyse.report import make_report
from rnnbench.present import figure_kit, plots

GOLDEN = Path(__file__).parent / "golden"
NAMES = [spec.name for spec in plots.FIGURES]
CRAFTED = {"crossover"}
"""Figures the golden results cannot give (no minGRU/minLSTM there): drawn from ``tests.crossover_data``."""


@pytest.fixture(scope="module")
def report():
    return make_report([GOLDEN])


@pytest.fixture(scope="module")
def figures(report, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every figure of the golden report (the crossover's from crafted minGRU/minLSTM runs), built once for the
    tests that read (or draw) them."""
    from tests.crossover_data import crossing_folder

    crafted = make_report([crossing_folder(tmp_path_factory.mktemp("crossover"))])
    return {spec.name: spec.build(crafted if spec.name in CRAFTED else report) for spec in plots.FIGURES}


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_has_data_and_labelled_axes(figures, name: str) -> None:
    fig = figures[name]
    assert fig is not None, f"{name}: the golden folder should give it data"
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert axes
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: unlabelled axis"
    assert fig._suptitle is not None and fig._suptitle.get_text()


def test_one_colour_per_arch_in_every_figure(figures) -> None:
    for name, fig in figures.items():
        assert fig is not None
        for legend in fig.legends:
            for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
                arch = text.get_text().split("/")[0]
                if arch in figure_kit.ARCH_COLORS:
                    assert to_hex(handle.get_color()) == to_hex(figure_kit.ARCH_COLORS[arch]), (name, arch)


def _check_written(out: Path, names: list[str]) -> None:
    for name in names:
        png = (out / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        svg = (out / f"{name}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_save_writes_png_and_svg_in_parallel(golden_report) -> None:
    """Every figure of the golden report, drawn by the forked writer (the session's one drawing)."""
    _, out, files = golden_report
    golden = [n for n in NAMES if n not in CRAFTED]
    assert sorted(p.stem for p in files["png"]) == sorted(golden)
    _check_written(out, golden)


def test_no_data_means_no_figure_and_serial_drawing_writes_the_rest(tmp_path: Path) -> None:
    """A report without speed data draws no speed figure, one without training data no training figure; the
    figures it has are written one after the other (``jobs=1``), PNG and SVG."""
    speed_only = make_report([GOLDEN / "20261101-090000-aaaa"])
    assert plots.training_curves(speed_only, "step") is None
    assert plots.memory_horizon(speed_only) is None
    train_only = make_report([GOLDEN / "20261103-110000-cccc"])
    assert plots.ratio_heatmap(train_only) is None
    names = ["training_curves_steps", "training_curves_seconds", "final_metric_vs_params", "memory_horizon"]
    assert [s.name for s in plots.save_figures(train_only, tmp_path, jobs=1)] == names
    _check_written(tmp_path, names)


def test_heatmap_marks_cells_without_a_verdict_over_rounds(figures) -> None:
    """No "GRU faster" reading from an interval without honest coverage: one-round (samples) cells and
    undecided cells carry '?'; the colour bar says what < 1 means, not who won."""
    fig = figures["ratio_heatmap"]
    assert fig is not None
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    marked = [t for t in texts if t.endswith("?")]
    assert marked and len(marked) < len(texts)  # the CPU train panel has decided cells (3 rounds, t-interval)
    assert "'?': no verdict over rounds" in fig._suptitle.get_text()
    colorbar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    assert "GRU faster" not in colorbar.get_ylabel()


def test_throughput_bars_state_their_real_coverage(figures) -> None:
    fig = figures["throughput_vs_seq_len"]
    assert fig is not None
    assert "down to 75%" in fig._suptitle.get_text()  # 3 rounds: the range covers 75%, not 95%


def _titles_inside(fig, name: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    texts = [fig._suptitle, *(ax.title for ax in fig.axes if ax.get_visible())]
    texts += [label for ax in fig.axes if ax.get_visible() for label in (ax.xaxis.label, ax.yaxis.label)]
    for text in texts:
        if text is None or not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        inside = box.x0 >= -1 and box.x1 <= width + 1 and box.y0 >= -1 and box.y1 <= height + 1
        assert inside, (name, text.get_text(), box, (width, height))


@pytest.mark.parametrize("name", NAMES)
def test_no_title_is_clipped(figures, name: str) -> None:
    """Every title (the figure's and each panel's) and every axis label (colour bars' too) lies inside the
    figure once drawn."""
    fig = figures[name]
    assert fig is not None
    _titles_inside(fig, name)


def test_training_titles_fit_with_one_panel(report) -> None:
    from rnnbench.analyse.report import Report

    one: Report = make_report([GOLDEN])
    first = one.arms.iloc[0]
    keep = (one.data.curves["task"] == first["task"]) & (one.data.curves["seq_len"] == first["seq_len"])
    one.data.curves = one.data.curves[keep]
    for build in (lambda r: plots.training_curves(r, "step"), lambda r: plots.training_curves(r, "seconds")):
        fig = build(one)
        assert fig is not None and len([a for a in fig.axes if a.get_visible()]) == 1
        assert "\n" in fig._suptitle.get_text()  # wrapped to the 4.6-inch figure, not clipped
        _titles_inside(fig, "training_curves")
    one.chosen = one.chosen[(one.chosen["task"] == first["task"]) & (one.chosen["seq_len"] == first["seq_len"])]
    fig = plots.final_vs_params(one)
    assert fig is not None and len([a for a in fig.axes if a.get_visible()]) == 1
    _titles_inside(fig, "final_metric_vs_params")


def test_final_metric_vs_params_keeps_true_parameter_counts(report, figures) -> None:
    """Arms at one budget are drawn apart by an offset in points, stated on the axis, while every point's x
    stays its true parameter count."""
    fig = figures["final_metric_vs_params"]
    assert fig is not None
    chosen = report.chosen
    true_params = set(chosen["params"].astype(float))
    ax = next(a for a in fig.axes if a.get_visible())
    assert "drawn" in ax.get_xlabel() and "pt apart" in ax.get_xlabel().replace("\n", " ")
    for collection in ax.collections:
        xs = {float(x) for x, _ in collection.get_offsets()}
        assert xs <= true_params, xs - true_params
    for line in ax.get_lines():
        assert {float(x) for x in line.get_xdata()} <= true_params
    assert "not in parameters" in fig._suptitle.get_text().replace("\n", " ")


def test_memory_horizon_keeps_true_lengths(report, figures) -> None:
    fig = figures["memory_horizon"]
    assert fig is not None
    lengths = set(report.chosen["seq_len"].astype(float))
    for ax in (a for a in fig.axes if a.get_visible()):
        assert "pt apart" in ax.get_xlabel()
        for line in ax.get_lines():
            if len(line.get_xdata()) and line.get_linestyle() != ":":
                assert {float(x) for x in line.get_xdata()} <= lengths
