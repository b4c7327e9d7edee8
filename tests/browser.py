"""Load a local HTML page in a real headless browser (Debian's chromium): its DOM and console errors.

Used by the tests of the pages alphaflow writes (trace viewer, reports). The page is opened from a
file URL with networking off, so a page that needs anything from the network shows it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=1",
    "--virtual-time-budget=3000",
]
# Chromium logs console messages as `...:INFO:CONSOLE:12] "message", source: file:///... (12)`
# (older builds: `CONSOLE(12)`); uncaught exceptions come through the same channel.
_CONSOLE = re.compile(r':(?:INFO|WARNING|ERROR):CONSOLE[:(]\d+\)?\] "(.*?)", source: (\S+)')
# Anything the page would fetch from the network (it must be self-contained).
_EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""", re.IGNORECASE
)


@dataclass
class LoadedPage:
    dom: str
    console: list[str]  # console messages (errors, warnings, logs) the page produced
    external: list[str]  # references to network resources in the loaded DOM


def chromium() -> str:
    """The browser, or a skip outside CI (CI installs it: scripts/bootstrap.sh), or a failure in CI."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; the test set-up (scripts/bootstrap.sh) installs it in CI")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def load(page: Path, screenshot: Path | None = None, width: int = 1400, height: int = 2000) -> LoadedPage:
    """Open ``page`` and return its DOM after load, and every console message and failed load."""
    browser = chromium()
    with tempfile.TemporaryDirectory() as profile:
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]
        if screenshot is not None:
            flags.append(f"--screenshot={screenshot}")
        else:
            flags.append("--dump-dom")
        done = subprocess.run(
            [browser, *flags, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    log = done.stderr
    return LoadedPage(
        dom=done.stdout,
        console=[f"{message} ({source})" for message, source in _CONSOLE.findall(log)],
        external=[match.group(0) for match in _EXTERNAL.finditer(done.stdout)] if screenshot is None else [],
    )
