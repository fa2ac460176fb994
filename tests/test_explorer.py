"""The explorer page in a real browser: Debian's chromium, headless, driven by Playwright.

Skipped where no system chromium is installed (browsers cannot be downloaded here):
``apt-get install chromium`` and ``pip install playwright`` run it.
"""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

from .servers import serving  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no system chromium (apt install chromium)"
)


def open_page(url: str):
    pw = sync_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url)
    return pw, browser, page


def traces(page, panel: str) -> int:
    """Scatter traces drawn with at least one point in a panel's plot."""
    return page.evaluate(
        f"""() => [...document.querySelectorAll('#plot-{panel} .scatterlayer .trace')]
               .filter(t => t.querySelectorAll('path.point').length > 0).length"""
    )


def wait_traces(page, panel: str, n: int) -> None:
    """Plotly draws asynchronously: wait until the panel shows ``n`` traces (or time out)."""
    page.wait_for_function(
        f"""() => [...document.querySelectorAll('#plot-{panel} .scatterlayer .trace')]
               .filter(t => t.querySelectorAll('path.point').length > 0).length == {n}""",
        timeout=30_000,
    )
    assert traces(page, panel) == n


def test_two_sentences_bank_two_senses_in_minilm_one_in_glove(minilm, glove6b, tmp_path):
    with serving({"glove-6b-50d": glove6b, "minilm-l6": minilm}) as (client, _, _):
        pw, browser, page = open_page(str(client.base_url))
        try:
            page.wait_for_function("document.querySelector('#panel-b .model').options.length == 2")
            page.fill(
                "#texts", "I went to the bank to deposit money.\nI sat by the bank of the river."
            )
            page.fill("#word", "bank")
            page.click("#go")
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            # static on the left: both uses are one point, one sense; contextual on the right
            assert page.eval_on_selector("#panel-a .model", "e => e.value") == "glove-6b-50d"
            assert page.eval_on_selector("#panel-b .model", "e => e.value") == "minilm-l6"
            wait_traces(page, "a", 1)
            wait_traces(page, "b", 2)
            assert page.get_attribute("#panel-b", "data-senses") == "2"
            # the layer slider redraws: at the input layer minilm's two uses are one sense
            page.eval_on_selector(
                "#panel-b .layer", "e => { e.value = 0; e.dispatchEvent(new Event('input')); }"
            )
            wait_traces(page, "b", 1)
            assert "0 (input)" in page.inner_text("#panel-b .layer-name")
            shot = tmp_path / "explorer.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
        finally:
            browser.close()
            pw.stop()


def test_page_shows_the_server_error(glove6b):
    with serving({"glove-6b-50d": glove6b}) as (client, _, _):
        pw, browser, page = open_page(str(client.base_url))
        try:
            page.wait_for_function("document.querySelector('#panel-a .model').options.length == 1")
            page.fill("#texts", "No such word here.")
            page.fill("#word", "bank")
            page.click("#go")
            page.wait_for_selector("#status.error", timeout=30_000)
            assert "no text contains the word 'bank'" in page.inner_text("#status")
        finally:
            browser.close()
            pw.stop()
