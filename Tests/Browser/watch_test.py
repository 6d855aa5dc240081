#!/usr/bin/env python3
"""Browser test of watching together: two real viewer pages of two nodes in one room play one video.

Usage:
    watch_test.py URL_A URL_B ARTEFACT_DIR [--timeout SECONDS] [--bound-ms 150]

URL_A and URL_B are the viewer URLs of two running nodes in one room (with `?token=`). The script
makes a 20 s MP4 with ffmpeg, shares it through A's local API, opens it on both pages (headless
Chromium through Selenium, as viewer_test.py does) and checks, each within a bounded wait:
  (w1) A plays; B's player follows; while both play, B's position stays within the bound of A's,
       measured from both pages' own samples of currentTime against their wall clocks
       (Date.now, one machine), A interpolated at each of B's sample times; prints max and mean;
  (w2) a seek in A moves B there;
  (w3) B detaches ("Watch on my own"), seeks alone: A does not move and B is not pulled back;
       B rejoins and is back within the bound of A;
  (w4) A's pause pauses B, at A's position;
  (w5) a mark with a time range (a moment at 5 s) shows on both pages around 5 s, not at 15 s;
  (w6) neither console logged a script error or a CSP violation.
Prints one line per check; exits 0 if all passed, 1 otherwise.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import viewer_test  # noqa: E402  (re-executes under /usr/bin/python3 if selenium is missing)
from viewer_test import CheckFailed, Checks, Page, check_console, wait_until  # noqa: E402


def make_driver():
    # A script's play() stands for the person's click here; without this flag Chromium refuses
    # sound without a gesture (the viewer then follows muted, and says so).
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = viewer_test.CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1280,900", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                     "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(viewer_test.CHROMEDRIVER), options=options)


viewer_test.make_driver = make_driver

VIDEO = "document.querySelector('#stage-content video')"


def make_video(folder):
    path = os.path.join(folder, "watch-clip.mp4")
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=20:size=320x240:rate=25",
         "-pix_fmt", "yuv420p", "-movflags", "+faststart", path],
        check=True, timeout=120, stdin=subprocess.DEVNULL)
    return path


def api(url, method, path, body=None, content_type="application/json"):
    """A request to the node behind viewer URL `url`, with its token."""
    parts = urllib.parse.urlsplit(url)
    token = urllib.parse.parse_qs(parts.query)["token"][0]
    data = body if isinstance(body, (bytes, bytearray)) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{parts.scheme}://{parts.netloc}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"{}")


def player(page):
    return page.js(f"const v = {VIDEO}; const w = window.cvpeerViewer.state().watch;"
                   "return v ? {t: v.currentTime, paused: v.paused, ready: v.readyState, duration: v.duration, rate: v.playbackRate,"
                   " wall: Date.now(), detached: w ? w.detached : null, shared: w ? w.shared : null} : null;")


def open_video(page, item_id, timeout):
    page.click(f'.panel-item[data-item="{item_id}"]')
    wait_until(lambda: page.focus() == item_id, timeout, f"the {page.role}'s stage did not open the video {item_id}")
    wait_until(lambda: (player(page) or {}).get("ready", 0) >= 1 and page.js(
        "const m = document.querySelector('#stage-content .media'); return m && m.dataset.state === 'loaded';"),
        timeout, f"the {page.role}'s stage did not load the video {item_id}")


def record(pages, seconds):
    """Both pages sample [Date.now(), currentTime, paused] every 20 ms for `seconds`; returns the samples."""
    for page in pages:
        page.js(f"window.__watchSamples = []; clearInterval(window.__watchTimer);"
                f"window.__watchTimer = setInterval(() => {{ const v = {VIDEO}; if (v) window.__watchSamples.push([Date.now(), v.currentTime, v.paused]); }}, 20);")
    time.sleep(seconds)
    return [page.js("clearInterval(window.__watchTimer); return window.__watchSamples;") for page in pages]


def differences(a_samples, b_samples):
    """B's position minus A's at each of B's sample times (A interpolated linearly), in ms; playing samples only."""
    result = []
    j = 0
    for wall, position, paused in b_samples:
        while j + 1 < len(a_samples) and a_samples[j + 1][0] < wall:
            j += 1
        if j + 1 >= len(a_samples) or paused:
            continue
        (w0, p0, paused0), (w1, p1, paused1) = a_samples[j], a_samples[j + 1]
        if paused0 or paused1 or not (w0 <= wall <= w1) or w1 == w0:
            continue
        a_position = p0 + (p1 - p0) * (wall - w0) / (w1 - w0)
        result.append((position - a_position) * 1000)
    return result


def check_follow(a, b, bound_ms, timeout):
    started = time.monotonic()
    a.js(f"{VIDEO}.play();")
    wait_until(lambda: (player(b) or {}).get("paused") is False, timeout, "B's player did not start when A played")
    playing_after = time.monotonic() - started
    wait_until(lambda: ((player(b) or {}).get("shared") or {}).get("playing") is True, timeout, "B's document has no shared playback playing")
    wait_until(lambda: gap_ms(a, b) <= bound_ms, timeout, f"B did not come within {bound_ms} ms of A")
    within_after = time.monotonic() - started
    time.sleep(max(0, 3 - within_after))  # settling: B closes what is left of the drift
    a_samples, b_samples = record([a, b], 6)
    diffs = differences(a_samples, b_samples)
    if len(diffs) < 100:
        raise CheckFailed(f"only {len(diffs)} comparable samples while both played ({len(a_samples)} from A, {len(b_samples)} from B)")
    worst = max(abs(d) for d in diffs)
    mean = sum(abs(d) for d in diffs) / len(diffs)
    summary = f"{len(diffs)} samples over 6 s: max |B − A| {worst:.0f} ms, mean {mean:.0f} ms (bound {bound_ms} ms)"
    if worst > bound_ms:
        raise CheckFailed(summary)
    return f"B played {playing_after * 1000:.0f} ms after A's play(), within the bound after {within_after * 1000:.0f} ms; " + summary


def gap_ms(a, b):
    """|B − A| now, from one sample of each, A's moved to B's wall time."""
    pa, pb = player(a), player(b)
    rate = pa["rate"] if not pa["paused"] else 0
    return abs(pb["t"] - (pa["t"] + (pb["wall"] - pa["wall"]) / 1000 * rate)) * 1000


def check_seek(a, b, bound_ms, timeout):
    started = time.monotonic()
    a.js(f"{VIDEO}.currentTime = 12;")
    wait_until(lambda: 11.5 <= player(b)["t"] <= 16 and gap_ms(a, b) <= bound_ms, timeout, "B did not move to A's seek to 12 s")
    took = time.monotonic() - started
    return f"A sought to 12 s; B was there (within {bound_ms} ms of A, now {gap_ms(a, b):.0f} ms) after {took * 1000:.0f} ms"


def check_detach(a, b, bound_ms, timeout):
    b.click(".watch-toggle")
    wait_until(lambda: player(b)["detached"] is True, timeout, "B's 'Watch on my own' did not detach it")
    shared_before = player(a)["shared"]
    b.js(f"{VIDEO}.currentTime = 3;")
    time.sleep(1.5)
    pa, pb = player(a), player(b)
    if pa["t"] < 11:
        raise CheckFailed(f"A moved to {pa['t']:.2f} s when detached B sought alone")
    if not (3 <= pb["t"] <= 6):
        raise CheckFailed(f"detached B was pulled to {pb['t']:.2f} s after seeking alone to 3 s")
    if pa["shared"] and shared_before and pa["shared"].get("id") != shared_before.get("id"):
        raise CheckFailed("detached B's seek reached the shared playback")
    b.click(".watch-toggle")
    wait_until(lambda: player(b)["detached"] is False, timeout, "B did not rejoin")
    wait_until(lambda: gap_ms(a, b) <= bound_ms, timeout, f"rejoined B did not come back within {bound_ms} ms of A")
    return f"detached B sought alone to 3 s ({pb['t']:.2f} s after 1.5 s) while A went on ({pa['t']:.2f} s); rejoined within {gap_ms(a, b):.0f} ms"


def check_pause(a, b, bound_ms, timeout):
    a.js(f"{VIDEO}.pause();")
    wait_until(lambda: player(b)["paused"] is True, timeout, "B did not pause when A paused")
    wait_until(lambda: abs(player(b)["t"] - player(a)["t"]) * 1000 <= bound_ms, timeout, "paused B is not at A's position")
    return f"A paused at {player(a)['t']:.2f} s; B paused at {player(b)['t']:.2f} s"


def check_timed_mark(a, b, item_id, timeout):
    answer = api(a.url, "POST", "/api/mark", {"item": item_id, "shape": {"type": "pin", "at": [0.5, 0.5], "label": "here"},
                                              "during": {"startMillis": 5000, "endMillis": 5000}})
    mark_id = answer["mark"]
    selector = f'#marks [data-mark-id="{mark_id}"]'

    def shown(page):
        return page.js("return !!document.querySelector(arguments[0])", selector)
    a.js(f"{VIDEO}.currentTime = 5.5;")
    for page in (a, b):
        wait_until(lambda: abs(player(page)["t"] - 5.5) < 0.2 and shown(page), timeout, f"the mark at 5 s did not show on {page.role}'s page at 5.5 s")
    a.js(f"{VIDEO}.currentTime = 15;")
    for page in (a, b):
        wait_until(lambda: abs(player(page)["t"] - 15) < 0.2 and not shown(page), timeout, f"the mark at 5 s still shows on {page.role}'s page at 15 s")
    a.js(f"{VIDEO}.currentTime = 4;")
    for page in (a, b):
        wait_until(lambda: abs(player(page)["t"] - 4) < 0.2 and shown(page), timeout, f"the mark at 5 s did not show again on {page.role}'s page at 4 s")
    return f"mark {mark_id} (a moment at 5 s) shown on both pages at 5.5 s and 4 s, hidden at 15 s"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url_a")
    parser.add_argument("url_b")
    parser.add_argument("artefacts")
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--bound-ms", type=float, default=150)
    args = parser.parse_args()
    checks = Checks()
    run = checks.run

    pages = []
    with tempfile.TemporaryDirectory(prefix="cvpeer-watch-") as folder:
        try:
            try:
                clip = make_video(folder)
                with open(clip, "rb") as source:
                    shared = api(args.url_a, "POST", "/api/share?name=watch-clip.mp4&title=Watch%20clip", source.read(), "video/mp4")
                item_id = shared["item"]
                a = Page("A", args.url_a, args.timeout)
                pages.append(a)
                b = Page("B", args.url_b, args.timeout)
                pages.append(b)
                a.open()
                b.open()
                wait_until(lambda: b.js("return !!document.querySelector(arguments[0])", f'.panel-item[data-item="{item_id}"]'),
                           args.timeout * 3, f"the video {item_id} did not reach B's panel")
                open_video(a, item_id, args.timeout)
                open_video(b, item_id, args.timeout * 3)
                print(f"ok   (setup) a {os.path.getsize(clip)}-byte MP4 shared as {item_id}, loaded on both pages", flush=True)
            except Exception as error:
                print(f"FAIL (setup) {error.__class__.__name__}: {str(error).splitlines()[0] if str(error) else ''}", flush=True)
                traceback.print_exc(file=sys.stderr)
                return 1
            run("w1", check_follow, a, b, args.bound_ms, args.timeout)
            run("w2", check_seek, a, b, args.bound_ms, args.timeout)
            run("w3", check_detach, a, b, args.bound_ms, args.timeout)
            run("w4", check_pause, a, b, args.bound_ms, args.timeout)
            run("w5", check_timed_mark, a, b, item_id, args.timeout)
            for page in pages:
                try:
                    page.screenshot(os.path.join(args.artefacts, f"watch-{page.role}.png"))
                except Exception:
                    pass
            run("w6", check_console, pages)
        finally:
            for page in pages:
                page.quit()
    return checks.summary("watch")


if __name__ == "__main__":
    sys.exit(main())
