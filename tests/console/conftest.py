"""Browser fixtures: Debian's Chromium driven by Playwright against a real primary server.

Playwright's own browser download cannot work on a closed network, so the tests
launch the system Chromium (``/usr/bin/chromium``, or ``HOSTCA_CHROMIUM``) with the
flags that keep it off the network. Screenshots go to ``test-output/console``
(or ``HOSTCA_TEST_OUTPUT``), one per page a test visits.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from conftest import ADMIN_PASSWORD, PrimaryServer, init_server, start_server, stop_server

REPO = Path(__file__).resolve().parents[2]
OUTPUT_DIR = Path(os.environ.get("HOSTCA_TEST_OUTPUT", REPO / "test-output")) / "console"

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("HOSTCA_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail(
            "the browser tests need Chromium; install Debian's chromium package "
            "(apt-get install chromium) or set HOSTCA_CHROMIUM"
        )
    return path


# Module scope, not session: Playwright's sync API runs an event loop in this
# thread while it is started, and tests of other modules on the same xdist worker
# call asyncio.run(), which refuses to run inside a running loop.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
    )
    yield launched
    launched.close()


@dataclass
class Console:
    """A primary server and a browser tab logged out of its console."""

    server: PrimaryServer
    context: BrowserContext
    page: Page
    test_name: str

    @property
    def url(self) -> str:
        return self.server.url + "/console"

    def goto(self, path: str) -> None:
        self.page.goto(self.url + path)

    def login(self, user: str = "admin", password: str = ADMIN_PASSWORD) -> None:
        self.goto("/")
        self.page.get_by_label("User name").fill(user)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(re.compile(r".*/console/$"))

    def nav(self, label: str) -> None:
        """Follow a link of the main navigation."""
        self.page.get_by_role("navigation", name="Main").get_by_role("link", name=label).click()

    def confirm(self) -> None:
        """Accept the confirmation dialog that every action opens."""
        dialog = self.page.locator("dialog#confirm-dialog")
        dialog.wait_for(state="visible")
        dialog.get_by_role("button", name="Confirm").click()

    def screenshot(self, name: str) -> Path:
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        path = OUTPUT_DIR / f"{self.test_name}--{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def fits_width(self) -> bool:
        """Whether the page needs no horizontal scrolling at the viewport's width."""
        width: int = self.page.evaluate("document.documentElement.scrollWidth")
        return width <= self.page.viewport_size["width"] if self.page.viewport_size else True

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.server.admin(method, path, **kwargs)


@pytest.fixture
def console_server(tmp_path: Path) -> Iterator[PrimaryServer]:
    data_dir = tmp_path / "data"
    init_server(data_dir, tmp_path)
    server = start_server(data_dir, tmp_path / "server.log")
    yield server
    stop_server(server)


@pytest.fixture
def console(
    browser: Browser, console_server: PrimaryServer, request: pytest.FixtureRequest
) -> Iterator[Console]:
    context = browser.new_context(
        ignore_https_errors=True,
        viewport={"width": 1024, "height": 768},
        permissions=["clipboard-read", "clipboard-write"],
        timezone_id="America/New_York",
        locale="en-US",
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield Console(console_server, context, page, request.node.name)
    context.close()
