"""The status page of `engine serve` in a real headless Chromium (Debian's, driven by playwright): signing
in through the form, live updates without a reload, and what is on the screenshot: each progress bar
filled to its stream's coverage (measured in pixels, green when complete, blue while running), the status
badges' colors, the error of a failed sync in red, and no secret anywhere on the page.

`./run test` installs Debian's chromium when it is missing; without it this test is skipped, except
where STRIPE_SYNC_REQUIRE_BROWSER is set (`.ci/run` sets it), where it fails.
"""
from __future__ import annotations

import os
import shutil

import pytest

from tests.engine.serve.conftest import TOKEN, pg_password
from tests.engine.serve.png import Image, crop, decode

GREEN, BLUE, RED = (0x2E, 0x7D, 0x32), (0x15, 0x65, 0xC0), (0xC6, 0x28, 0x28)
GREY, TRACK = (0x9E, 0x9E, 0x9E), (0xE0, 0xE0, 0xE0)
FILL = {"complete": GREEN, "running": BLUE, "error": RED, "skipped": GREY}
STREAMS = ["customers", "charges", "products"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = "chromium is not installed (./run test installs it with apt-get as root)"
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("STRIPE_SYNC_REQUIRE_BROWSER"),
                                reason=MISSING)


def near(color: tuple[int, int, int], want: tuple[int, int, int], tolerance: int = 10) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(color, want, strict=True))


def filled_share(image: Image, want: tuple[int, int, int]) -> float:
    """Share of the bar's middle row, from the left, in the fill color (the rest must be the track)."""
    y = image.height // 2
    colors = [image.pixel(x, y) for x in range(image.width)]
    filled = sum(1 for c in colors if near(c, want, 40))
    track = sum(1 for c in colors if near(c, TRACK, 12))
    assert filled + track >= image.width - 3, f"a bar has pixels of other colors: {set(colors)}"
    assert all(near(c, want, 40) for c in colors[:max(0, filled - 2)]), "the fill is not on the left"
    return filled / image.width


BARS = """els => els.map(e => {
  const r = e.getBoundingClientRect();
  return {id: e.id, coverage: Number(e.dataset.coverage), state: e.dataset.state,
          box: [r.left + scrollX, r.top + scrollY, r.width, r.height].map(Math.round)};
})"""


def check_bars(page) -> list[dict]:
    """Every bar on the screen: its DOM coverage against its pixels in one screenshot of all of them (one
    frame), taken between two equal readings of the bars: no redraw in between, so every bar's pixels and
    its DOM figures are the same refresh's."""
    for _ in range(20):
        bars = page.eval_on_selector_all(".bar", BARS)
        left, top = min(b["box"][0] for b in bars), min(b["box"][1] for b in bars)
        right = max(b["box"][0] + b["box"][2] for b in bars)
        bottom = max(b["box"][1] + b["box"][3] for b in bars)
        shot = decode(page.screenshot(full_page=True, clip={"x": left, "y": top, "width": right - left,
                                                            "height": bottom - top}))
        if page.eval_on_selector_all(".bar", BARS) == bars:
            break
    else:
        raise AssertionError("the page kept redrawing while it was photographed")
    checked = []
    for bar in bars:
        x, y, width, height = bar["box"]
        image = crop(shot, x - left, y - top, width, height)
        share = filled_share(image, FILL[bar["state"]])
        assert abs(share - bar["coverage"]) <= 2.5 / image.width, (bar, share)
        checked.append({**bar, "share": share})
    return checked


def badge_color(page, sync_id: str) -> tuple[int, int, int]:
    image = decode(page.locator(f"#status-{sync_id}").screenshot())
    colors = [image.pixel(x, y) for y in range(image.height) for x in range(image.width)]
    return max(set(colors), key=colors.count)


def test_status_page_shows_live_progress_bars_and_errors(emulator, serve, pg_url, pg_schema):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, MISSING  # STRIPE_SYNC_REQUIRE_BROWSER: fail rather than skip
    emu = emulator({"dataset": {"customers": 3000, "charges": 2000, "products": 40}, "seed": 5})
    server = serve(emu)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900}, device_scale_factor=1)
            assert page.goto(server.url + "/").status == 401  # the sign-in form
            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_selector("text=No syncs yet.")

            run = server.post_sync(streams=STREAMS, schema=pg_schema).json()
            bad = server.post_sync(streams=["customers"], schema=pg_schema + "_bad",
                                   source_config={"api_key": "sk_test_wrongKeyForThePage00000",
                                                  "base_url": emu.url}).json()
            page.wait_for_selector(f"#sync-{run['id']}")  # appeared without a reload
            page.wait_for_function(f"document.querySelectorAll('#sync-{run['id']} .bar').length === 3")
            running = check_bars(page)  # mid-run: whatever the coverage, the pixels show it
            page.wait_for_selector(f"#sync-{run['id']}[data-status=succeeded]", timeout=120_000)
            page.wait_for_selector(f"#sync-{bad['id']}[data-status=failed]", timeout=60_000)
            done = check_bars(page)
            mine = [b for b in done if b["id"].startswith(f"bar-{run['id']}-")]
            assert len(mine) == 3 and all(b["state"] == "complete" and b["share"] > 0.99 for b in mine)
            assert near(badge_color(page, run["id"]), GREEN, 12)
            assert near(badge_color(page, bad["id"]), RED, 12)
            errors = page.locator(f"#errors-{bad['id']}")
            assert "auth_failed" in errors.inner_text()
            assert near(tuple(int(v) for v in errors.evaluate(
                "e => getComputedStyle(e).color.match(/\\d+/g).slice(0, 3)")), RED, 2)
            refreshes = int(page.evaluate("document.body.dataset.refreshes"))
            assert refreshes >= 3  # it kept polling
            html = page.content()
            for secret in ("sk_test_wrongKeyForThePage00000", emu.api_key, TOKEN, pg_password(pg_url)):
                assert secret not in html
            page.screenshot(path=str(server.dir / "status-page.png"), full_page=True)
            print("screenshot:", server.dir / "status-page.png")
            print("bars mid-run:", [(b["id"].rsplit("-", 1)[1], round(b["coverage"], 3)) for b in running])
        finally:
            browser.close()
