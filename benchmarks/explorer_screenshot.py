"""The explorer page's picture in docs/: glove-6b-50d and minilm-l6 side by side on uses of
"bank", in Debian's chromium driven by Playwright (as tests/test_explorer.py does).

    python benchmarks/explorer_screenshot.py [--out docs/explorer.png]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import ctxembed
from ctxembed.serve.app import create_app
from ctxembed.serve.command import running

SENTENCES = """I went to the bank to deposit money.
The bank raised its interest rates again.
She opened a savings account at the bank.
The central bank cut rates to support the economy.
I sat by the bank of the river.
We fished from the grassy bank of the stream.
The boat drifted toward the muddy bank.
Flowers grew along the bank of the canal."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("docs/explorer.png"))
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Debian's chromium: apt-get install chromium")
    app = create_app(
        {"glove-6b-50d": ctxembed.load("glove-6b-50d"), "minilm-l6": ctxembed.load("minilm-l6")}
    )
    with running(app) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 820})
        page.goto(f"http://127.0.0.1:{server.config.port}/")
        page.wait_for_function("document.querySelector('#panel-b .model').options.length == 2")
        page.fill("#texts", SENTENCES)
        page.fill("#word", "bank")
        page.click("#go")
        page.wait_for_selector("body[data-ready='1']", timeout=120_000)
        tmp = args.out.with_suffix(".tmp.png")
        page.screenshot(path=str(tmp), full_page=True)
        tmp.replace(args.out)
        senses = [page.get_attribute(f"#panel-{k}", "data-senses") for k in "ab"]
        browser.close()
    print(f"wrote {args.out}: senses of 'bank', glove-6b-50d {senses[0]}, minilm-l6 {senses[1]}")


if __name__ == "__main__":
    main()
