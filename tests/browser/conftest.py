"""Browser fixtures: one Chromium per test session, a fresh context (cookies,
storage, cache) per test, the app served by pytest-django's `live_server`.

Debian's Chromium is used because a Playwright-downloaded browser cannot be
fetched here: `make install` installs it. Without it the browser tests FAIL
(never skip): a green run must mean the journey really was driven in a browser.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio event loop in the test's own thread, so
# Django sees a running loop and refuses ORM calls from the test body and from
# the database fixtures' teardown (SynchronousOnlyOperation). Nothing here uses
# the ORM from a coroutine: the test thread only blocks on the browser, which
# talks to the live server's thread. So the guard is safe to switch off.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Error as PlaywrightError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.journey import AXE_SCRIPT  # noqa: E402

# Debian's package puts it here; PENALTYPAY_CHROMIUM overrides (for another distribution).
CHROMIUM = os.environ.get("PENALTYPAY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Generous for a loaded 2-core CI box, short enough that a broken page fails fast.
DEFAULT_TIMEOUT_MS = 10_000


def _chromium_path() -> str:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium was not found at {CHROMIUM}. The browser tests drive Debian's Chromium: "
            "run `make install` (it installs the `chromium` package). "
            "Do not run `playwright install`: a downloaded browser cannot be fetched here.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def _playwright():
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(_playwright):
    """One headless Chromium for the whole session (starting one costs about a second)."""
    executable = _chromium_path()
    try:
        chromium = _playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=LAUNCH_ARGS,
            # The browser keeps the real clock under a shifted-clock run (scripts/shifted-clock):
            # Chromium stalls under libfaketime, and every date it shows comes from the server.
            env={k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")},
        )
    except PlaywrightError as exc:
        pytest.fail(
            f"Chromium at {executable} would not start ({exc.message.splitlines()[0]}). "
            "Run `make install` to (re)install Debian's chromium package.",
            pytrace=False,
        )
    yield chromium
    chromium.close()


@pytest.fixture
def new_context(browser, live_server):
    """Make browser contexts aimed at the live server; all are closed after the test.

    Options are Playwright's `new_context` ones, e.g. `java_script_enabled=False`,
    or `bypass_csp=True` (needed only to inject axe-core: the pages' CSP allows
    no script without the per-request nonce)."""
    made = []

    def make(**options):
        options.setdefault("base_url", live_server.url)
        options.setdefault("locale", "en-GB")
        options.setdefault("timezone_id", "Europe/London")
        context = browser.new_context(**options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def context(new_context):
    """A normal visitor: JavaScript on and the site's Content Security Policy enforced,
    so a script or style the policy blocks shows up as a console error."""
    return new_context()


def watch(page):
    """Record what the browser complains about on `page`:
    `page.console_errors` (script errors, CSP violations) and
    `page.failed_requests` (sub-resources answered with 4xx/5xx or not at all)."""
    page.console_errors = []
    page.failed_requests = []

    def on_console(message):
        # A failed load is reported as a console error too; failed_requests has the URL.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            page.console_errors.append(message.text)

    def on_response(response):
        if response.status >= 400 and response.request.resource_type != "document":
            page.failed_requests.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.console_errors.append(f"uncaught: {error}"))
    page.on("response", on_response)
    page.on(
        "requestfailed",
        # ERR_ABORTED: a load cut short by the next navigation, not a broken link.
        lambda request: (
            request.failure != "net::ERR_ABORTED" and page.failed_requests.append(f"{request.failure} {request.url}")
        ),
    )
    return page


@pytest.fixture
def page(context):
    return watch(context.new_page())


@pytest.fixture
def axe_page(new_context):
    """A page whose context bypasses the CSP so that axe-core can be injected."""
    if not AXE_SCRIPT.exists():
        pytest.fail(f"axe-core is missing at {AXE_SCRIPT}: run `make install` (npm ci).", pytrace=False)
    return new_context(bypass_csp=True).new_page()
