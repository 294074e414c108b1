"""Where the browser tests find Debian's Chromium, and why they cannot run when they cannot."""

import importlib.util
import os
from pathlib import Path

# Debian's package (`apt-get install chromium`); Playwright drives it, it never downloads a browser.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Headless in a container as root, and quiet: no background requests of the browser's own.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SKIP_REASON_PREFIX = "browser test skipped"
TEST_MODULES = sorted(Path(__file__).parent.glob("test_*.py"))


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when Chromium and Playwright are both present."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install -r requirements-dev.txt)"
    return None
