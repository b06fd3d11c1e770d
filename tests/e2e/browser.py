"""Shared pieces of the browser tests: central served as a real process, and a Chromium page
(Debian's Chromium driven by Playwright; the README's test command installs it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from central.settings import Settings
from tests.helpers import free_port, wait_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@contextlib.contextmanager
def serve_central(settings: Settings, **extra_env: str) -> Iterator[str]:
    """``reeferwatch-central serve`` on a free port for ``settings``; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "REEFERWATCH_DATA_DIR": str(settings.data_dir),
        "REEFERWATCH_DATABASE_URL": settings.database_url,
        "REEFERWATCH_SECRET_KEY": settings.secret(),
        **extra_env,
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("reeferwatch-central")), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def page() -> Iterator[Page]:
    if not shutil.which(CHROMIUM):
        pytest.skip("chromium is not installed (the README's test command installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 800})
        finally:
            browser.close()
