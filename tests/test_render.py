"""Markdown, HTML and terminal output from the golden results: self-contained HTML, data strings escaped,
and the page checked in a real headless browser (Chromium) when one is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from rnnbench.analyse.report import make_report
from rnnbench.present.render import html_report, markdown, terminal_renderables

GOLDEN = Path(__file__).parent / "golden"
INJECTED = '<script>alert("x")</script>'


@pytest.fixture
def written(golden_report):
    return golden_report


def test_files_written(written) -> None:
    _, out, files = written
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert len(files["png"]) == len(files["svg"]) == 9
    assert (out / "cases.csv").exists() and (out / "ratios.csv").exists()


def test_markdown_fits_a_job_summary(written) -> None:
    _, out, _ = written
    text = (out / "report.md").read_text()
    assert text.startswith("# rnnbench report")
    assert "## Claims" in text and "## Speed" in text and "## Training" in text
    assert "| shape | arch/impl |" in text
    assert "![" in text and "(throughput_vs_seq_len.png)" in text
    assert len(text.encode()) < 1_000_000  # GitHub's job-summary limit is 1 MiB
    assert INJECTED not in text and "&lt;script&gt;" in text
    # the speed tables say what each interval covers and what "% of torch.matmul" divides by
    assert "% of torch.matmul" in text and "% peak" not in text
    assert "\\] (75%) |" in text  # 3 rounds: the range of round medians, labelled with its real coverage
    assert "t-rounds" in text and "GRU faster in one process" in text
    assert "between-process noise" in text and "all B·T steps under masking" in text
    # every table row has as many cells as its header
    for block in re.findall(r"(?:^\|.*\|\n)+", text, flags=re.M):
        rows = block.strip().split("\n")
        widths = {len(re.split(r"(?<!\\)\|", r)) for r in rows}
        assert len(widths) == 1, rows[0]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts += 1


def test_html_is_self_contained_and_escaped(written) -> None:
    _, out, _ = written
    page = (out / "report.html").read_text()
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, flags=re.I), "external URL in the HTML"
    parser = _Collector()
    parser.feed(page)
    assert parser.scripts == 0, "data injected a <script> element"
    assert INJECTED not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    images = [a for tag, a in parser.tags if tag == "img"]
    assert len(images) == 9 and all((a.get("src") or "").startswith("data:image/png;base64,") for a in images)
    links = [a for tag, a in parser.tags if tag in ("link", "script", "iframe")]
    assert not links
    assert "<title>rnnbench report" in page


def test_escaping_of_every_data_string() -> None:
    report = make_report([GOLDEN])
    report.data.warnings.append('<img src=x onerror="alert(1)"> | *bold*')
    report.claims[0].rows[0].scope = "<b>scope</b>"
    page = html_report(report)
    md = markdown(report)
    assert "<img src=x" not in page and "<b>scope</b>" not in page
    assert "<img src=x" not in md and "<b>scope</b>" not in md and "\\| \\*bold\\*" in md


def test_terminal_tables(written) -> None:
    from rich.console import Console

    report, _, _ = written
    console = Console(width=160, record=True, color_system=None)
    for item in terminal_renderables(report, max_rows=100):
        console.print(item)
    text = console.export_text()
    assert "inference · cpu · Intel(R) Xeon(R) Gold 6338" in text
    assert "GRU/LSTM [95% CI]" in text and "Claims" in text and "Training" in text
    assert "oom: " in text


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(
    _chromium() is None,
    reason="Chromium is not installed (apt-get install chromium); the browser test of the HTML report skips",
)
def test_html_in_a_real_browser(written, tmp_path: Path) -> None:
    """Chromium renders the page: the DOM has the title and the embedded first figure, and the screenshot is
    not blank where the title and the first figure are."""
    from PIL import Image

    _, out, _ = written
    url = (out / "report.html").resolve().as_uri()
    browser = _chromium()
    assert browser is not None
    common = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<h1 id="title">rnnbench report' in dom.stdout
    assert re.search(
        r'<figure id="fig-throughput_vs_seq_len"><img [^>]*src="data:image/png;base64,', dom.stdout
    )

    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,2000", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    image = Image.open(shot).convert("L")
    assert image.size == (1280, 2000)

    def spread(box: tuple[int, int, int, int]) -> float:
        from PIL import ImageStat

        return ImageStat.Stat(image.crop(box)).stddev[0]

    assert spread((0, 0, 1280, 70)) > 20, "title band is blank"  # the h1 text
    assert spread((0, 200, 1280, 1000)) > 20, "first figure area is blank"
    # the first figure is a chart: many distinct grey levels, not a flat fill or a broken-image icon
    assert len(np.unique(np.asarray(image.crop((0, 200, 1280, 1000))))) > 50
