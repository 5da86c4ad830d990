"""The latent explorer end to end in a real browser (Debian's chromium, driven by Playwright).

The page is driven as a person would: move a slider, pick a category, traverse another code, upload and
drop an image, jump to Q's codes. A full-page screenshot is saved to ``test-artifacts/explorer.png``.
Set ``INFOGAN_EXPLORER_RUN`` to a trained run folder to drive (and photograph) that model instead of the
tiny test snapshot; that is how ``docs/explorer.png`` is made.

Without Chromium the test is skipped with a line saying how to enable it, except where
``INFOGAN_REQUIRE_BROWSER=1`` (``.ci/run`` sets it after installing Chromium): there a missing browser fails.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

import infogan
from infogan import snapshot
from infogan.web.explorer import Explorer
from infogan.web.server import ExplorerServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 60_000  # bound on every wait: generous for a loaded 2-core machine, still finite


@pytest.fixture(scope="module")
def page(tiny_trained_run, tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' installs playwright")
    if not Path(CHROMIUM).exists():
        why = f"{CHROMIUM} is missing: apt-get install -y chromium to run the browser test"
        if os.environ.get("INFOGAN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{why} (INFOGAN_REQUIRE_BROWSER=1: it may not be skipped)")
        pytest.skip(why)
    run = os.environ.get("INFOGAN_EXPLORER_RUN")
    if run is None:  # a copy of the tiny run with a code_acc result: the page names categories by their class
        run = tmp_path_factory.mktemp("browser-run") / "run"
        shutil.copytree(tiny_trained_run, run)
        infogan.evaluate_run(run, ["code_acc", "info"], num_samples=500)
    server = ExplorerServer(Explorer(snapshot.load(run), run_dir=Path(run)), port=0)
    server.start()
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1100, "height": 900})
        tab.set_default_timeout(WAIT_MS)
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        try:
            yield tab, server, errors
        finally:
            browser.close()
            server.shutdown()
            server.server_close()


def fetch(url: str) -> bytes:
    """The bytes the server answers for ``url`` (it is deterministic), read outside the browser."""
    with urllib.request.urlopen(url, timeout=WAIT_MS / 1000) as res:
        return res.read()


def wait_for_new_image(tab, selector: str, before: str) -> str:
    """Wait until ``selector``'s data-version moves past ``before``; return the new version."""
    tab.wait_for_selector(f'{selector}:not([data-version="{before}"])')
    return tab.get_attribute(selector, "data-version")


def test_explorer_in_a_real_browser(page, tmp_path):
    tab, server, errors = page
    with tab.expect_response(lambda r: "/api/generate" in r.url) as first:
        tab.goto(server.url)
    tab.wait_for_selector("body[data-ready=true]")
    version = wait_for_new_image(tab, "#sample", "0")
    start_png = fetch(first.value.url)
    shot_start = tab.locator("#sample").screenshot()

    # 1. move the c2 slider with the mouse: a new image, the value shown, the image on screen changes
    box = tab.locator("#c2").bounding_box()
    with tab.expect_response(lambda r: "/api/generate" in r.url and "c2=0&" not in r.url) as moved:
        tab.mouse.click(box["x"] + 0.9 * box["width"], box["y"] + box["height"] / 2)
    version = wait_for_new_image(tab, "#sample", version)
    assert moved.value.status == 200 and fetch(moved.value.url) != start_png
    sent = float(parse_qs(urlsplit(moved.value.url).query)["c2"][0])
    assert 1.3 < sent < 1.9 and tab.text_content("#c2-value") == f"{sent:.2f}"
    assert tab.locator("#sample").screenshot() != shot_start

    # 2. pick another category of c1
    after_slider = fetch(moved.value.url)
    with tab.expect_response(lambda r: "/api/generate" in r.url and "c1=7" in r.url) as picked:
        tab.click("#c1-7")
    version = wait_for_new_image(tab, "#sample", version)
    assert fetch(picked.value.url) != after_slider
    assert tab.get_attribute("#c1-7", "aria-pressed") == "true"
    assert tab.get_attribute("#c1-0", "aria-pressed") == "false"

    # 3. the traversal strip follows the selected code
    strip = tab.get_attribute("#traversal", "data-version")
    with tab.expect_response(lambda r: "/api/traversal" in r.url and "code=c3" in r.url) as traversed:
        tab.select_option("#traverse-code", "c3")
    wait_for_new_image(tab, "#traversal", strip)
    with Image.open(io.BytesIO(fetch(traversed.value.url))) as img:
        assert img.width > 5 * img.height  # a strip of several cells
    assert "selected" in tab.get_attribute('.code[data-code="c3"]', "class")

    # 3b. categories named by what they draw, and the strip of c1 ordered by it
    c1 = server.explorer.describe()["codes"][0]
    if c1["labels"]:
        assert tab.text_content("#c1-0") == f"0 - {c1['labels'][0]}"
        assert "R² " in tab.text_content('.code[data-code="c2"] .code-name')  # what Q recovers of c2
        tab.select_option("#traverse-code", "c1")
        tab.wait_for_selector("#order-label:not([hidden])")
        with tab.expect_response(lambda r: "/api/traversal" in r.url and "order=label" in r.url) as ordered:
            tab.check("#order-by-label")
        assert ordered.value.status == 200
        tab.uncheck("#order-by-label")

    # 4. upload an image: Q's posterior appears as bars and numbers
    digit = tmp_path / "digit.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (56, 56), dtype=np.uint8)).save(digit)
    with tab.expect_response(lambda r: "/api/encode" in r.url) as encoded:
        tab.set_input_files("#file", str(digit))
    tab.wait_for_selector("#posterior:not([hidden])")
    assert encoded.value.status == 200
    answer = server.explorer.posterior(digit.read_bytes())  # what the page must be showing
    k = server.explorer.describe()["codes"][0]["k"]
    assert tab.locator('.posterior-code[data-code="c1"] .bar-row').count() == k
    best = answer["codes"][0]["category"]
    assert tab.text_content('.posterior-code[data-code="c1"] .code-name').startswith(f"c1: category {best}")
    assert "mean" in tab.text_content('.posterior-code[data-code="c2"]')

    # 5. jump to Q's codes: pickers and sliders take the posterior's values
    with tab.expect_response(lambda r: "/api/generate" in r.url and f"c1={best}" in r.url):
        tab.click("#use-codes")
    mean = min(2.0, max(-2.0, answer["codes"][1]["mean"]))
    assert float(tab.input_value("#c2")) == pytest.approx(mean, abs=0.011)
    assert tab.get_attribute(f"#c1-{best}", "aria-pressed") == "true"

    # 6. drop a file on the drop zone: the same posterior as the upload
    payload = base64.b64encode(digit.read_bytes()).decode()
    transfer = tab.evaluate_handle("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
        return dt; }""", payload)
    tab.evaluate("() => { document.getElementById('posterior-codes').replaceChildren(); }")
    with tab.expect_response(lambda r: "/api/encode" in r.url) as dropped:
        tab.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    assert dropped.value.status == 200
    tab.wait_for_selector('.posterior-code[data-code="c1"]')
    assert tab.text_content('.posterior-code[data-code="c1"] .code-name').startswith(f"c1: category {best}")

    # 7. a bad upload shows the server's message instead of a posterior change
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not an image at all")
    tab.set_input_files("#file", str(bad))
    tab.wait_for_selector("#encode-error:not([hidden])")
    assert "not an image file" in tab.text_content("#encode-error")

    # 8. new noise changes the image; the seed box shows the new seed
    version = tab.get_attribute("#sample", "data-version")
    tab.click("#new-noise")
    wait_for_new_image(tab, "#sample", version)
    assert tab.input_value("#seed") != "0"

    ARTIFACTS.mkdir(exist_ok=True)
    tab.set_input_files("#file", str(digit))  # leave a posterior on screen for the picture
    tab.wait_for_selector("#encode-error[hidden]", state="attached")
    tab.screenshot(path=str(ARTIFACTS / "explorer.png"), full_page=True)
    assert (ARTIFACTS / "explorer.png").stat().st_size > 10_000
    assert not [e for e in errors if "Failed to load resource" not in e], errors  # 4xx of step 7 are logged
