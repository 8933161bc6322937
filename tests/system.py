"""Debian packages some tests need (Chromium, a JRE), installed by the project's own scripts."""
import os
import subprocess

import pytest

from tests.conftest import ROOT


def require(script, what):
    """Run scripts/<script> (a no-op when the package is there); skip without it, or fail in CI."""
    done = subprocess.run(["sh", str(ROOT / "scripts" / script)], capture_output=True, text=True,
                          timeout=900, check=False)
    if done.returncode != 0:
        reason = f"{what} is not available: {done.stderr.strip()[-500:]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI must run these tests)")
        pytest.skip(reason)
