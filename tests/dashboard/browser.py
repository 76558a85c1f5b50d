"""Headless Chromium from Debian (``/usr/bin/chromium``) driven by Playwright.

Never ``playwright install``: the browser is the distribution's package, launched through
``executable_path`` with the flags below (no sandbox as root in CI, no network of its own).
"""

from __future__ import annotations

import os
import shutil
import subprocess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium(install: bool = True) -> str | None:
    """The Debian chromium binary; installed with apt-get when missing and we are root."""
    found = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if found is None and install and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-qq", "chromium"]
        if subprocess.run(cmd, check=False, capture_output=True, env=env).returncode:
            subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True, env=env)
            subprocess.run(cmd, check=False, capture_output=True, env=env)
        found = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    return found
