"""The learner's path in a real browser: JupyterLab on a student copy, Run All, verdict boxes.

Playwright drives Debian's Chromium (no browser download), headless. JupyterLab starts the
way `make lab` starts it: `labkit lab` makes the student copies in a work folder and runs
JupyterLab on 127.0.0.1, here with a token of the test's own (``JUPYTER_TOKEN``).
Screenshots land in the test's temporary folder (CI keeps them as artifacts).
"""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.testing import free_port, run_service

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "00-orientation.ipynb"
ANSWER_PLACEHOLDER = "compression = None  # YOUR ANSWER HERE"




@pytest.fixture
def jupyter(lab_env: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab serving a student copy of notebook 00, as `make lab` runs it; its URL."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    sources, work = tmp_path / "notebooks", tmp_path / "work"
    sources.mkdir()
    shutil.copy(NOTEBOOK, sources / NOTEBOOK.name)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [str(Path(sys.executable).with_name("labkit")), "lab", "--work", str(work),
           "--notebooks", str(sources), "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    # A busy 2-core machine starts Jupyter slowly: up to 240 s.
    with run_service("jupyterlab", cmd, log_path=tmp_path / "jupyter.log", cwd=tmp_path,
                     env={"JUPYTER_TOKEN": token}, timeout=240,
                     health_url=f"{base}/api/status?token={token}"):
        assert "YOUR ANSWER HERE" in (work / NOTEBOOK.name).read_text()  # a student copy
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", work


def _run_all(page) -> None:  # type: ignore[no-untyped-def]
    """Run > Run All Cells, from JupyterLab's menu bar, as a learner would."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def test_student_copy_shows_not_attempted_then_passed(jupyter: tuple[str, Path],
                                                      tmp_path: Path) -> None:
    """Run All on a fresh student copy shows grey boxes; an answered exercise turns green."""
    from playwright.sync_api import expect, sync_playwright

    url, _ = jupyter
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(url)
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120_000)
            _run_all(page)
            # The verdicts of the check cells (the notebook also shows two demonstration boxes).
            verdicts = page.locator(".jp-CodeCell", has_text='check("orientation.').locator(
                ".jp-OutputArea-output")
            boxes = verdicts.filter(has_text="NOT ATTEMPTED")
            expect(boxes).to_have_count(2, timeout=180_000)
            page.screenshot(path=str(tmp_path / "not-attempted.png"), full_page=True)
            assert verdicts.filter(has_text="PASSED").count() == 0

            cell = page.locator(".jp-CodeCell", has_text=ANSWER_PLACEHOLDER)
            cell.locator(".cm-content").click()
            page.keyboard.press("Control+A")
            page.keyboard.type("compression = (5 * 60) / 30")
            _run_all(page)
            passed = verdicts.filter(has_text="PASSED")
            expect(passed).to_have_count(1, timeout=180_000)
            expect(passed.first).to_contain_text("orientation.time_compression")
            expect(boxes).to_have_count(1)  # the other exercise is still unanswered
            page.screenshot(path=str(tmp_path / "passed.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "not-attempted.png").stat().st_size > 0
    assert (tmp_path / "passed.png").stat().st_size > 0
