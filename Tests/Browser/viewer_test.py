#!/usr/bin/env python3
"""Browser test of the cvpeer viewer: two real pages of two nodes in one room.

Usage:
    viewer_test.py URL_AGENT URL_CUSTOMER ARTEFACT_DIR JPEG [--timeout SECONDS]

URL_AGENT and URL_CUSTOMER are the viewer URLs two running nodes printed (with `?token=`); the
nodes are in one room and already share at least one image item. JPEG is a small photo to upload.

Runs headless Chromium through Selenium (Debian: chromium, chromium-driver, python3-selenium) and
checks, each within a bounded wait:
  (a) a rectangle drawn with pointer events on the agent's stage appears in the customer's marks;
  (b) zooming in on the agent's page changes its zoom, leaves the customer's alone, and changes
      the agent's viewport outline on the customer's page;
  (c) moving the pointer over the agent's stage moves the agent's pointer on the customer's page;
  (d) a JPEG uploaded through the agent's file input appears, loaded, in the customer's panel;
  (e) a PNG screenshot of each page goes to ARTEFACT_DIR (viewer-agent.png, viewer-customer.png);
  (f) neither page logged a script error or a Content-Security-Policy violation;
  (j) the viewer's sources (Sources/Node/Viewer beside this script's folder): every module at most
      320 lines, and nothing that turns text into markup or code (innerHTML, eval, inline script).
Prints one line per check; exits 0 if all passed, 1 otherwise.
"""

import argparse
import json
import os
import re
import sys
import time
import traceback

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.mouse_button import MouseButton
    from selenium.webdriver.common.by import By
except ImportError:
    # Debian's python3-selenium is installed for /usr/bin/python3; a python3 from elsewhere on PATH
    # (pyenv, a virtualenv) does not see it.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("FAIL setup: selenium is missing (apt-get install python3-selenium chromium chromium-driver)")
    sys.exit(1)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class CheckFailed(Exception):
    pass


def wait_until(predicate, timeout, message, interval=0.1):
    """Polls `predicate` until it returns a truthy value; raises CheckFailed with `message` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except CheckFailed:
            raise
        except Exception as error:  # a page mid-render, a stale element: try again
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error.__class__.__name__}: {str(last_error).splitlines()[0] if str(last_error) else ''})" if last_error else ""
            raise CheckFailed(f"{message} within {timeout:g} s{detail}")
        time.sleep(interval)


def make_driver():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1280,900", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class Page:
    """One viewer page in its own browser."""

    def __init__(self, role, url, timeout):
        self.role = role
        self.url = url
        self.timeout = timeout
        self.driver = make_driver()
        self.driver.set_page_load_timeout(max(30, timeout * 2))
        self.logs = []

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def open(self):
        self.driver.get(self.url)
        wait_until(lambda: self.js("return !!(window.cvpeerViewer && window.cvpeerViewer.state().me && window.cvpeerViewer.state().document)"),
                   self.timeout, f"the {self.role}'s page did not load the document")
        wait_until(lambda: self.js("return window.cvpeerViewer.state().connection") == "live",
                   self.timeout, f"the {self.role}'s page did not connect its live WebSocket")
        self.me = self.js("return window.cvpeerViewer.state().me.id")

    def state(self):
        return self.js("return window.cvpeerViewer.state()")

    def zoom(self):
        return self.js("return window.cvpeerViewer.zoom()")

    def focus(self):
        return self.js("return window.cvpeerViewer.focus()")

    def rect(self, selector):
        """The element's client rect as a dict, or None when absent or not displayed."""
        return self.js(
            "const e = document.querySelector(arguments[0]); if (!e) return null;"
            "const r = e.getBoundingClientRect(); if (r.width === 0 && r.height === 0 && !e.classList.contains('pointer')) return null;"
            "return {x: r.left, y: r.top, w: r.width, h: r.height};", selector)

    def item_area(self):
        """The part of the stage where the item is drawn (viewport coordinates)."""
        return self.js(
            "const s = document.getElementById('stage').getBoundingClientRect();"
            "const c = document.querySelector('#stage-content > *'); if (!c) return null;"
            "const m = c.getBoundingClientRect();"
            "const x1 = Math.max(s.left, m.left), y1 = Math.max(s.top, m.top), x2 = Math.min(s.right, m.right), y2 = Math.min(s.bottom, m.bottom);"
            "if (x2 - x1 < 20 || y2 - y1 < 20) return null; return {x: x1, y: y1, w: x2 - x1, h: y2 - y1};")

    def click(self, selector):
        element = self.driver.find_element(By.CSS_SELECTOR, selector)
        self.js("arguments[0].scrollIntoView({block: 'nearest', inline: 'nearest'});", element)
        element.click()

    def collect_logs(self):
        try:
            self.logs.extend(self.driver.get_log("browser"))
        except Exception:
            pass
        return self.logs

    def screenshot(self, path):
        self.driver.save_screenshot(path)

    def quit(self):
        try:
            self.driver.quit()
        except Exception:
            pass


def mouse(page, steps, duration=40):
    """Performs pointer actions at viewport coordinates: [("move"|"down"|"up", x, y), …]."""
    chain = ActionChains(page.driver, duration=duration)
    pointer = chain.w3c_actions.pointer_action
    for kind, x, y in steps:
        if kind == "move":
            pointer.move_to_location(int(round(x)), int(round(y)))
        elif kind == "down":
            pointer.move_to_location(int(round(x)), int(round(y)))
            pointer.pointer_down(MouseButton.LEFT)
        elif kind == "up":
            pointer.move_to_location(int(round(x)), int(round(y)))
            pointer.pointer_up(MouseButton.LEFT)
    chain.perform()


def marks_by(page, author):
    return page.js(
        "return [...document.querySelectorAll('#marks [data-mark-id]')]"
        ".filter(e => e.dataset.author === arguments[0]).map(e => ({id: e.dataset.markId, cls: e.getAttribute('class')}));", author)


def shared_image(agent, customer):
    """An image item with a photo that both documents hold, in the agent's panel order."""
    def find():
        a = agent.state()["document"]
        b = customer.state()["document"]
        for item_id in a.get("panel", []):
            item = a["items"].get(item_id) or {}
            media = (item.get("fields") or {}).get("media") or {}
            if item.get("kind") == "image" and str(media.get("mime", "")).startswith("image/") and item_id in b.get("items", {}):
                return item_id
        return None
    return wait_until(find, agent.timeout, "no image item shared by both nodes")


def open_on_both(item_id, pages):
    for page in pages:
        page.click(f'.panel-item[data-item="{item_id}"]')
    for page in pages:
        wait_until(lambda: page.focus() == item_id, page.timeout, f"the {page.role}'s stage did not open item {item_id}")
        wait_until(lambda: page.js("return document.getElementById('stage').dataset.ready") == "1" and page.item_area(),
                   page.timeout, f"the {page.role}'s stage did not show the photo of item {item_id}")


def check_mark(agent, customer, timeout):
    agent.click('#toolbar [data-tool="rectangle"]')
    wait_until(lambda: agent.state()["tool"] == "rectangle", timeout, "the rectangle tool was not selected")
    before = {m["id"] for m in marks_by(customer, agent.me)}
    before_agent = {m["id"] for m in marks_by(agent, agent.me)}
    area = agent.item_area()
    if not area:
        raise CheckFailed("the agent's stage shows no item to draw on")
    x1, y1 = area["x"] + area["w"] * 0.30, area["y"] + area["h"] * 0.30
    x2, y2 = area["x"] + area["w"] * 0.62, area["y"] + area["h"] * 0.66
    steps = [("down", x1, y1)]
    for i in range(1, 9):
        steps.append(("move", x1 + (x2 - x1) * i / 8, y1 + (y2 - y1) * i / 8))
    steps.append(("up", x2, y2))
    mouse(agent, steps)
    new_in_agent = wait_until(lambda: [m for m in marks_by(agent, agent.me) if m["id"] not in before_agent],
                              timeout, "the rectangle drawn on the agent's stage did not become a mark there")
    mark_id = new_in_agent[0]["id"]
    found = wait_until(lambda: [m for m in marks_by(customer, agent.me) if m["id"] not in before and m["id"] == mark_id],
                       timeout, f"mark {mark_id} drawn by the agent did not appear in the customer's #marks")
    if "mark-rectangle" not in (found[0]["cls"] or ""):
        raise CheckFailed(f"mark {mark_id} appeared in the customer's page, but not as a rectangle ({found[0]['cls']})")
    agent.click('#toolbar [data-tool="pan"]')
    return f"rectangle {mark_id} drawn with pointer events by the agent appeared in the customer's #marks"


def check_zoom(agent, customer, timeout):
    outline = f'.outline[data-participant="{agent.me}"]'
    item_id = agent.focus()
    agent.click("#zoom-reset")
    wait_until(lambda: abs(agent.zoom() - 1) < 1e-6, timeout, "the agent's zoom did not reset to 1")

    def agent_viewport_in_customer():
        for viewport in customer.state()["document"].get("viewports", []):
            if viewport.get("participant") == agent.me and viewport.get("item") == item_id:
                return viewport
        return None

    # The customer's document must hold the agent's zoom-1 viewport (an earlier one may linger).
    wait_until(lambda: (agent_viewport_in_customer() or {}).get("zoomThousandths") == 1000, timeout,
               "the agent's viewport at zoom 1 did not reach the customer's document")
    first = wait_until(lambda: customer.rect(outline), timeout, "the agent's viewport outline did not appear on the customer's page")
    time.sleep(0.2)  # one more frame
    first = customer.rect(outline) or first
    customer_zoom = customer.zoom()
    agent_zoom = agent.zoom()
    agent_label = agent.js("return document.getElementById('zoom-level').textContent")
    agent.click("#zoom-in")
    agent.click("#zoom-in")
    wait_until(lambda: agent.zoom() > agent_zoom * 2.0, timeout, f"the agent's zoom did not grow from {agent_zoom:.2f} after two clicks on #zoom-in")
    wait_until(lambda: agent.js("return document.getElementById('zoom-level').textContent") != agent_label,
               timeout, "the agent's #zoom-level did not change")
    after = wait_until(lambda: (lambda r: r if r and r["w"] < first["w"] * 0.6 and r["h"] < first["h"] * 0.6 else None)(customer.rect(outline)),
                       timeout, f"the agent's outline on the customer's page did not shrink (it was {first['w']:.0f}×{first['h']:.0f} px)")
    if abs(customer.zoom() - customer_zoom) > 1e-9:
        raise CheckFailed(f"the customer's zoom changed from {customer_zoom} to {customer.zoom()} when the agent zoomed")
    return (f"agent zoom {agent_zoom:.2f} → {agent.zoom():.2f}, customer zoom stays {customer_zoom:.2f}, "
            f"agent's outline on the customer's page {first['w']:.0f}×{first['h']:.0f} → {after['w']:.0f}×{after['h']:.0f} px")


def check_pointer(agent, customer, timeout):
    selector = f'.pointer[data-participant="{agent.me}"]'
    area = agent.item_area()
    if not area:
        raise CheckFailed("the agent's stage shows no item")
    p1 = (area["x"] + area["w"] * 0.35, area["y"] + area["h"] * 0.40)
    p2 = (area["x"] + area["w"] * 0.65, area["y"] + area["h"] * 0.60)
    # Pointers travel unreliably (datagrams), so the mouse keeps twitching around its spot until seen.
    def twitching_at(point, predicate):
        tick = [0]

        def probe():
            tick[0] += 1
            if tick[0] % 5 == 1:
                offset = 1 if (tick[0] // 5) % 2 else -1
                mouse(agent, [("move", point[0] + offset, point[1]), ("move", point[0], point[1] + offset)], duration=20)
            return predicate()
        return probe

    mouse(agent, [("move", p1[0] - 5, p1[1]), ("move", *p1)])
    wait_until(twitching_at(p1, lambda: customer.rect(selector)), timeout, "the agent's pointer did not appear on the customer's page")
    time.sleep(0.3)
    first = customer.rect(selector)
    if not first:
        raise CheckFailed("the agent's pointer vanished from the customer's page while the agent's mouse stayed on the stage")
    mouse(agent, [("move", (p1[0] + p2[0]) / 2, (p1[1] + p2[1]) / 2), ("move", *p2)])
    second = wait_until(
        twitching_at(p2, lambda: (lambda r: r if r and abs(r["x"] - first["x"]) + abs(r["y"] - first["y"]) > 8 else None)(customer.rect(selector))),
        timeout, "the agent's pointer on the customer's page did not move when the agent's mouse moved")
    return f"agent's pointer on the customer's page moved from ({first['x']:.0f}, {first['y']:.0f}) to ({second['x']:.0f}, {second['y']:.0f})"


def check_upload(agent, customer, jpeg, timeout):
    before = set(customer.js("return [...document.querySelectorAll('.panel-item[data-item]')].map(e => e.dataset.item)"))
    uploads_before = agent.js("return document.querySelectorAll('#upload-progress .upload').length")
    agent.driver.find_element(By.CSS_SELECTOR, "#file-input").send_keys(os.path.abspath(jpeg))
    row = wait_until(lambda: agent.js(
        "const rows = [...document.querySelectorAll('#upload-progress .upload')].slice(arguments[0]);"
        "const r = rows.find(r => r.dataset.state === 'done' || r.dataset.state === 'failed');"
        "return r ? {state: r.dataset.state, item: r.dataset.item || '', removed: r.dataset.metadataRemoved || '', text: r.textContent} : null;",
        uploads_before), timeout, "the agent's upload did not finish (#upload-progress)")
    if row["state"] != "done" or not row["item"]:
        raise CheckFailed(f"the agent's upload failed: {row['text']}")
    item_id = row["item"]
    wait_until(lambda: customer.js("return !!document.querySelector(arguments[0])", f'.panel-item[data-item="{item_id}"]'),
               timeout, f"the uploaded item {item_id} did not appear in the customer's panel")
    wait_until(lambda: customer.js(
        "const img = document.querySelector(arguments[0]); return !!(img && img.complete && img.naturalWidth > 0);",
        f'.panel-item[data-item="{item_id}"] img'), timeout, f"the uploaded photo {item_id} did not load in the customer's panel")
    if item_id in before:
        raise CheckFailed(f"item {item_id} was in the customer's panel before the upload")
    return f"uploaded {os.path.basename(jpeg)} as {item_id}; it loaded in the customer's panel (metadataRemoved={row['removed']})"


def check_roles(agent, customer, timeout):
    """The viewer hides what the room's rules forbid: only the agent recommends, and a customer
    cannot remove the agent's items (every node refuses both; the buttons must not be offered)."""
    def product():
        theirs = customer.state()["document"].get("items", {})
        doc = agent.state()["document"]
        for item_id in doc.get("panel", []):
            item = doc["items"].get(item_id) or {}
            if item.get("kind") == "productCard" and item.get("author") == agent.me and item_id in theirs:
                return item_id
        return None
    item_id = wait_until(product, timeout, "no product card of the agent's in both documents")
    roles = (agent.state()["me"].get("role"), customer.state()["me"].get("role"))
    if roles != ("agent", "customer"):
        raise CheckFailed(f"the viewers' roles are {roles}, not agent and customer")

    def count(page, selector):
        return page.js("return document.querySelectorAll(arguments[0]).length", selector)
    card = f'.panel-item[data-item="{item_id}"]'
    wait_until(lambda: count(agent, f"{card} .act-recommend") == 1, timeout, "the agent's panel card has no Recommend button")
    wait_until(lambda: count(customer, f"{card} .act-buy") == 1, timeout, "the customer's panel card has no Buy button")
    if count(customer, f"{card} .act-recommend"):
        raise CheckFailed("the customer's panel offers Recommend, which every node refuses")
    for page in (agent, customer):
        page.click(card)
        wait_until(lambda: page.focus() == item_id, timeout, f"the {page.role}'s stage did not open the product")
    wait_until(lambda: count(agent, "#item-info .act-remove") == 1 and count(agent, "#item-info .act-recommend") == 1,
               timeout, "the agent's stage does not offer Remove and Recommend for its own product")
    wait_until(lambda: count(customer, "#item-info .act-buy") == 1, timeout, "the customer's stage shows no Buy button")
    offered = [c for c in (".act-remove", ".act-recommend") if count(customer, f"#item-info {c}")]
    if offered:
        raise CheckFailed(f"the customer's stage offers {offered} on the agent's product")
    return f"product {item_id}: the agent may recommend and remove it; the customer sees Buy only"


def check_code(agent, customer, timeout):
    """The agent's viewer gives a one-time short code through the demo's rendezvous; the
    customer's viewer offers no such button."""
    visible = "const b = document.querySelector('.act-give-code'); return !!(b && !b.closest('[hidden]'))"
    wait_until(lambda: agent.js(visible), timeout, "the agent's viewer offers no Give a code button")
    if customer.js(visible):
        raise CheckFailed("the customer's viewer offers Give a code; only agents give codes")
    agent.click(".act-give-code")
    text = wait_until(lambda: agent.js("const e = document.querySelector('.give-code .code-out'); return e && e.textContent"),
                      timeout, "no code was shown after Give a code")
    if not re.search(r"Read out: \d{1,3}-[a-z]+-[a-z]+ ", text):
        raise CheckFailed(f"the code box says {text!r}")
    return f"the agent's viewer gave a code: {text.split(' (')[0]}"


def check_removal(agent, customer, timeout):
    """The owner's viewer offers Remove on a member's row (the customer's never does); removing
    the customer there starts a new epoch that the agent's page shows, with the row marked removed."""
    def count(page, selector):
        return page.js("return document.querySelectorAll(arguments[0]).length", selector)
    row = f'.person[data-participant="{customer.me}"]'
    wait_until(lambda: agent.js("const b = document.querySelector(arguments[0]); return !!(b && !b.hidden)", f"{row} .act-remove-member"),
               timeout, "the owner's viewer offers no Remove on the customer's row")
    shown = customer.js("return [...document.querySelectorAll('.act-remove-member')].filter((b) => !b.hidden).length")
    if shown:
        raise CheckFailed(f"the customer's viewer offers Remove on {shown} rows; only the owner removes")
    agent.click(f"{row} .act-remove-member")
    alert = wait_until(lambda: agent.driver.switch_to.alert, timeout, "no confirmation was asked before removing")
    alert.accept()
    wait_until(lambda: count(agent, f"{row}.removed") == 1, timeout, "the customer's row is not marked removed in the owner's viewer")
    text = wait_until(lambda: agent.js("const e = document.getElementById('epoch'); return e && !e.hidden && e.textContent"),
                      timeout, "the owner's viewer does not show the new epoch")
    if "epoch 1" not in text or "was removed" not in text:
        raise CheckFailed(f"the epoch line says {text!r}")
    return f"the owner removed the customer from its viewer: {text}"


def check_console(pages):
    problems = []
    for page in pages:
        for entry in page.collect_logs():
            message = entry.get("message", "")
            if "Content Security Policy" in message or "Uncaught" in message or entry.get("source") == "javascript":
                problems.append(f"{page.role}: {message[:300]}")
    if problems:
        raise CheckFailed("console errors: " + " | ".join(problems[:5]))
    return "no script error or CSP violation in either console"


VIEWER_SOURCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources", "Node", "Viewer")
MAX_MODULE_LINES = 320
MARKUP_SINKS = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\s*\(|new Function|setTimeout\s*\(\s*['\"`]")


def check_sources():
    """Each viewer module stays small, and no module hands text to the HTML or JS parser."""
    folder = os.path.normpath(VIEWER_SOURCES)
    modules = sorted(name for name in os.listdir(folder) if name.endswith(".js"))
    if not modules:
        raise CheckFailed(f"no viewer modules in {folder}")
    sizes = {}
    for name in modules:
        with open(os.path.join(folder, name), encoding="utf-8") as source:
            text = source.read()
        sizes[name] = text.count("\n")
        sink = MARKUP_SINKS.search(text)
        if sink:
            raise CheckFailed(f"{name} uses {sink.group(0)!r}; build nodes with textContent (see dom.js)")
    large = [f"{name} ({lines} lines)" for name, lines in sizes.items() if lines > MAX_MODULE_LINES]
    if large:
        raise CheckFailed(f"viewer modules over {MAX_MODULE_LINES} lines: {', '.join(large)}")
    with open(os.path.join(folder, "index.html"), encoding="utf-8") as page:
        html = page.read()
    inline = re.search(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=", html, re.IGNORECASE)
    if inline:
        raise CheckFailed(f"index.html has inline script: {inline.group(0)!r}")
    largest = max(sizes, key=sizes.get)
    return f"{len(modules)} modules, the largest {largest} at {sizes[largest]} lines (at most {MAX_MODULE_LINES}); no markup sinks, no inline script"


class Checks:
    """Named checks run in turn: each prints "ok   (name) detail [time]" or "FAIL (name) why", and
    the results are kept for the summary line."""

    def __init__(self):
        self.results = []

    def run(self, name, function, *arguments):
        started = time.monotonic()
        try:
            detail = function(*arguments)
            self.results.append(True)
            print(f"ok   ({name}) {detail} [{time.monotonic() - started:.1f} s]", flush=True)
        except CheckFailed as error:
            self.results.append(False)
            print(f"FAIL ({name}) {error}", flush=True)
        except Exception as error:
            self.results.append(False)
            print(f"FAIL ({name}) unexpected {error.__class__.__name__}: {str(error).splitlines()[0] if str(error) else ''}", flush=True)
            traceback.print_exc(file=sys.stderr)

    def summary(self, what):
        """Prints the summary line; the exit status: 0 only if there were checks and all passed."""
        passed = all(self.results) and bool(self.results)
        print(f"{'ok  ' if passed else 'FAIL'} {what}: {sum(self.results)} of {len(self.results)} checks passed", flush=True)
        return 0 if passed else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("agent_url")
    parser.add_argument("customer_url")
    parser.add_argument("artefacts")
    parser.add_argument("jpeg")
    parser.add_argument("--timeout", type=float, default=15.0, help="bound of each wait, in seconds (default 15)")
    args = parser.parse_args()
    os.makedirs(args.artefacts, exist_ok=True)
    if not os.path.isfile(args.jpeg):
        print(f"FAIL setup: no file {args.jpeg}")
        return 1

    checks = Checks()
    run = checks.run

    run("j", check_sources)
    pages = []
    try:
        try:
            agent = Page("agent", args.agent_url, args.timeout)
            pages.append(agent)
            customer = Page("customer", args.customer_url, args.timeout)
            pages.append(customer)
            agent.open()
            customer.open()
            item_id = shared_image(agent, customer)
            open_on_both(item_id, [agent, customer])
            print(f"ok   (setup) both pages live, showing shared image {item_id}", flush=True)
        except Exception as error:
            print(f"FAIL (setup) {error.__class__.__name__}: {str(error).splitlines()[0] if str(error) else ''}", flush=True)
            if not isinstance(error, CheckFailed):
                traceback.print_exc(file=sys.stderr)
            for page in pages:
                try:
                    page.screenshot(os.path.join(args.artefacts, f"viewer-{page.role}.png"))
                except Exception:
                    pass
            return 1

        run("a", check_mark, agent, customer, args.timeout)
        run("b", check_zoom, agent, customer, args.timeout)
        run("c", check_pointer, agent, customer, args.timeout)
        run("d", check_upload, agent, customer, args.jpeg, args.timeout)

        def screenshots():
            names = []
            for page in pages:
                path = os.path.join(args.artefacts, f"viewer-{page.role}.png")
                page.screenshot(path)
                if not os.path.isfile(path) or os.path.getsize(path) == 0:
                    raise CheckFailed(f"no screenshot at {path}")
                names.append(path)
            return "screenshots " + ", ".join(names)

        run("e", screenshots)
        run("g", check_roles, agent, customer, args.timeout)
        run("i", check_code, agent, customer, args.timeout)
        run("h", check_removal, agent, customer, args.timeout)
        run("f", check_console, pages)
    finally:
        for page in pages:
            page.quit()
    return checks.summary("viewer")


MEDIA_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/avif",
               "video/mp4", "video/quicktime", "video/webm"}


def hostile_main(argv):
    """--hostile-blobs VIEWER_URL ARTEFACT_DIR HEX=NAME… [absent:HEX=NAME…]: opens each blob URL in a tab
    of the viewer's origin. (k1) blobs marked absent are in neither the document nor the status, and
    their URL answers 404; (k2) every other blob is complete in the status and answered with its listed
    type, a sandboxing CSP, nosniff and a fixed inline disposition; (k3) after each was opened in a tab,
    no script ran: the tabs and the page hold no trace of it, and the document (state hash, chat,
    commerce) is unchanged."""
    parser = argparse.ArgumentParser(description=hostile_main.__doc__)
    parser.add_argument("viewer_url")
    parser.add_argument("artefacts")
    parser.add_argument("blobs", nargs="+")
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args(argv)
    os.makedirs(args.artefacts, exist_ok=True)
    present, absent = [], []
    for spec in args.blobs:
        hex_and_name = spec[len("absent:"):] if spec.startswith("absent:") else spec
        blob, _, name = hex_and_name.partition("=")
        (absent if spec.startswith("absent:") else present).append((blob.lower(), name))
    checks = Checks()
    run = checks.run

    page = Page("agent", args.viewer_url, args.timeout)
    try:
        page.open()

        def media_ids():
            items = page.state()["document"].get("items", {})
            return {((item.get("fields") or {}).get("media") or {}).get("id", "").lower() for item in items.values()}

        def status_lines():
            status = page.state().get("status") or {}
            return {line["blob"].lower(): line for line in status.get("blobs", [])}

        def answer(blob):
            return page.driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "fetch('/api/blobs/' + arguments[0], {cache: 'no-store'}).then(r => done({status: r.status,"
                " type: r.headers.get('content-type'), csp: r.headers.get('content-security-policy'),"
                " nosniff: r.headers.get('x-content-type-options'), disposition: r.headers.get('content-disposition')}))"
                ".catch(e => done({error: String(e)}));", blob)

        def k1():
            wait_until(lambda: page.state().get("status"), args.timeout, "no status reached the page")
            for blob, name in absent:
                if blob in media_ids() or blob in status_lines():
                    raise CheckFailed(f"{name} ({blob[:12]}) is in the agent's document or status")
                got = answer(blob)
                if got.get("status") != 404:
                    raise CheckFailed(f"{name}: GET answered {got}")
            return f"{', '.join(name for _, name in absent)}: in neither document nor status; its URL answers 404"

        def k2():
            seen = []
            for blob, name in present:
                wait_until(lambda: (status_lines().get(blob) or {}).get("state") == "complete", args.timeout,
                           f"{name} is not complete in the agent's status")
                got = answer(blob)
                csp = (got.get("csp") or "").replace(" ", "")
                if (got.get("status") != 200 or got.get("type") not in MEDIA_TYPES or "sandbox" not in csp
                        or "default-src'none'" not in csp or got.get("nosniff") != "nosniff"
                        or got.get("disposition") != 'inline; filename="blob"'):
                    raise CheckFailed(f"{name}: {got}")
                seen.append(f"{name} as {got['type']}")
            return "answered with CSP sandbox, nosniff and a fixed disposition: " + ", ".join(seen)

        def k3():
            before = page.state()
            chat = lambda state: [m.get("text", "") for m in state["document"].get("chat", [])]
            main = page.driver.current_window_handle
            base = args.viewer_url.split("/?")[0].rstrip("/")
            shown = []
            for blob, name in present + absent:
                if blob in status_lines():
                    # Only when (k1) failed: let it arrive, so the tab shows what it would do.
                    try:
                        wait_until(lambda: (status_lines().get(blob) or {}).get("state") == "complete", args.timeout, "")
                    except CheckFailed:
                        pass
                fetched = answer(blob)
                page.driver.switch_to.new_window("tab")
                page.driver.get(f"{base}/api/blobs/{blob}")
                time.sleep(1.5)  # what a script in it would need to act
                trace = page.js("return {title: document.title, pwned: window.cvpeerPwned || null, type: document.contentType,"
                                " origin: String(window.origin), href: location.href, text: (document.documentElement && document.documentElement.textContent || '').slice(0, 120)}")
                logs = [entry.get("message", "")[:160] for entry in page.driver.get_log("browser")]
                page.driver.close()
                page.driver.switch_to.window(main)
                if trace["title"] == "PWNED" or trace["pwned"]:
                    raise CheckFailed(f"{name}: script ran in its tab ({trace})")
                shown.append(f"{name}: {trace['type']}, origin {trace['origin']} at {trace['href'][:40]} ({trace['text'][:80]!r}) {fetched}, status {(status_lines().get(blob) or {}).get('state', 'absent')}" + (f", console: {' | '.join(logs)}" if logs else ""))
            time.sleep(1.0)
            after = page.state()
            if page.js("return window.cvpeerPwned || localStorage.getItem('pwned')"):
                raise CheckFailed("the viewer's origin holds a script's trace")
            if any(text.startswith("PWNED") for text in chat(after)):
                raise CheckFailed(f"a chat message was posted: {chat(after)}")
            if after["document"].get("commerce", []) != before["document"].get("commerce", []):
                raise CheckFailed("the commerce log changed")
            if after["stateHash"] != before["stateHash"]:
                raise CheckFailed("the document changed while the blobs were open")
            return "no script ran; " + "; ".join(shown)

        run("k1", k1)
        run("k2", k2)
        run("k3", k3)
        page.screenshot(os.path.join(args.artefacts, "viewer-hostile-blobs.png"))
    except Exception as error:
        checks.results.append(False)
        print(f"FAIL (setup) {error.__class__.__name__}: {str(error).splitlines()[0] if str(error) else ''}", flush=True)
    finally:
        page.quit()
    return checks.summary("hostile blobs")


def seek_ahead(page, blob, probe, deadline):
    """(p2): seeks the blob's <video> to 80% and plays it; true once it plays there while the blob
    is still arriving and less than 75% of its chunks are here (so the part sought came first)."""
    locate = "const v = [...document.querySelectorAll('.panel-item video')].find(v => (v.currentSrc || v.src || '').includes(arguments[0]));"
    target = page.driver.execute_script(
        locate + "if (!v || !isFinite(v.duration)) return null;"
        "v.muted = true; const t = v.duration * 0.8; v.currentTime = t; v.play().catch(() => {}); return t;", blob)
    if target is None:
        print("FAIL (p2) the video has no duration to seek in", flush=True)
        return False
    start = time.monotonic()
    previous = None
    while time.monotonic() < deadline:
        seen = page.driver.execute_script(
            locate + "return v ? {t: v.currentTime, ready: v.readyState, paused: v.paused, seeking: v.seeking} : null;", blob)
        state = page.driver.execute_async_script(probe, blob)
        now = time.monotonic() - start
        if seen and not seen["seeking"] and seen["ready"] >= 3 and seen["t"] >= target and not seen["paused"]:
            if previous is not None and seen["t"] > previous:
                if state.get("state") != "arriving":
                    print(f"FAIL (p2) the seek to {target:.1f} s played only once the blob was {state.get('state')} "
                          f"({now:.2f} s after the seek)", flush=True)
                    return False
                # Fetched in order from the start, 80% of the time needs about 80% of the chunks.
                if state.get("have", 0) >= 0.75 * max(state.get("total", 1), 1):
                    print(f"FAIL (p2) the seek to {target:.1f} s played only once the fetch from the start had come near it "
                          f"({state.get('have')} of {state.get('total')} chunks here, {now:.2f} s after the seek): "
                          f"the part sought was not fetched ahead", flush=True)
                    return False
                print(f"ok   (p2) seeking to 80% ({target:.1f} s) played there {now:.2f} s after the seek, with "
                      f"{state.get('have')} of {state.get('total')} chunks here", flush=True)
                return True
            previous = seen["t"]
        time.sleep(0.02)
    print(f"FAIL (p2) the seek to {target:.1f} s did not play before the timeout", flush=True)
    return False


def progressive_main(argv):
    """--progressive VIEWER_URL BLOB|any: the page of a node receiving a video (`any`: the first blob
    the status lists; prints "ok   (setup)" once the page is live, before the video is shared). (p1) the panel's <video>
    has a frame (readyState >= 2) while the node still says the blob is arriving (from /api/status,
    asked at each poll); prints the time from the item's appearing to the first frame and to the
    blob's completion. With --seek: (p2) right after the first frame the page seeks to 80% of the
    video and plays; it must be playing there (a frame at or past the target, time advancing) while
    the blob is still arriving, so the part sought was fetched ahead of the rest; prints the time
    from the seek to playing."""
    parser = argparse.ArgumentParser(description=progressive_main.__doc__)
    parser.add_argument("viewer_url")
    parser.add_argument("blob")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--seek", action="store_true")
    args = parser.parse_args(argv)
    blob = args.blob.lower()
    page = Page("customer", args.viewer_url, args.timeout)
    ok = False
    try:
        page.open()
        print("ok   (setup) the page is live", flush=True)
        if blob == "any":
            blob = wait_until(lambda: page.driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "fetch('/api/status', {cache: 'no-store'}).then(r => r.json()).then(s => done((s.blobs || []).length ? s.blobs[0].blob : null))"
                ".catch(() => done(null));"), args.timeout, "no blob appeared")
        probe = ("const done = arguments[arguments.length - 1];"
                 "const v = [...document.querySelectorAll('.panel-item video')].find(v => (v.currentSrc || v.src || '').includes(arguments[0]));"
                 "fetch('/api/status', {cache: 'no-store'}).then(r => r.json()).then(s => {"
                 " const line = (s.blobs || []).find(b => b.blob === arguments[0]);"
                 " done({ready: v ? v.readyState : -1, state: line ? line.state : 'absent', have: line ? line.have : 0, total: line ? line.total : 0}); })"
                 ".catch(e => done({error: String(e)}));")
        wait_until(lambda: page.driver.execute_async_script(probe, blob).get("state") != "absent", args.timeout,
                   "the video's item did not appear")
        start = time.monotonic()
        first_frame = None
        complete = None
        deadline = start + args.timeout
        seek = None
        while time.monotonic() < deadline and (first_frame is None or complete is None):
            seen = page.driver.execute_async_script(probe, blob)
            now = time.monotonic() - start
            if first_frame is None and seen.get("ready", -1) >= 2:
                first_frame = (now, seen.get("state"), seen.get("have"), seen.get("total"))
            if complete is None and seen.get("state") == "complete":
                complete = now
            if args.seek and seek is None and first_frame is not None and complete is None:
                seek = seek_ahead(page, blob, probe, deadline)
                continue
            time.sleep(0.05)
        if first_frame is None:
            print(f"FAIL (p1) no frame within {args.timeout:g} s (complete after {complete})", flush=True)
        elif first_frame[1] != "arriving":
            print(f"FAIL (p1) the first frame came only once the blob was {first_frame[1]} ({first_frame[0]:.2f} s)", flush=True)
        else:
            ok = True
            print(f"ok   (p1) first frame {first_frame[0]:.2f} s after the item appeared, with {first_frame[2]} of "
                  f"{first_frame[3]} chunks here; the blob was complete after "
                  f"{'%.2f s' % complete if complete is not None else 'more than the timeout'}", flush=True)
        if args.seek and first_frame is not None:
            if seek is None:
                print("FAIL (p2) the blob was complete before the page could seek; nothing to measure", flush=True)
            ok = ok and seek is True
    except Exception as error:
        print(f"FAIL (setup) {error.__class__.__name__}: {str(error).splitlines()[0] if str(error) else ''}", flush=True)
    finally:
        page.quit()
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--hostile-blobs":
        sys.exit(hostile_main(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "--progressive":
        sys.exit(progressive_main(sys.argv[2:]))
    sys.exit(main())
