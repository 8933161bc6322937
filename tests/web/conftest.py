"""Browser fixtures: Chromium installed by the project's script, the app on a real server, one WebDriver session."""
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from cdss import create_app
from tests.conftest import ROOT
from tests.system import require
from tests.web.webdriver import Browser

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "tests" / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1800"]


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def browser_binaries():
    """Chromium and chromedriver, installed by scripts/install-browser.sh when missing."""
    require("install-browser.sh", "headless Chromium")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The real application on a real HTTP server, in a thread, on a free port of 127.0.0.1."""
    database = tmp_path_factory.mktemp("web-db") / "cdss.sqlite3"
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{database}", "PATIENT_HASH_SALT": "web",
                      "LOG_LEVEL": "WARNING"})
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    thread.join(10)


@pytest.fixture(scope="session")
def browser(browser_binaries):
    """One headless Chromium session for the browser tests, with a fresh profile."""
    chromium, chromedriver = browser_binaries
    port = free_port()
    profile = tempfile.mkdtemp(prefix="cdss-chromium-")
    driver = subprocess.Popen([chromedriver, f"--port={port}", "--allowed-ips=127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        session = Browser(url, {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium, "args": [*FLAGS, f"--user-data-dir={profile}"]}})
        yield session
        session.quit()
    finally:
        driver.terminate()
        driver.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


def wait_ready(url, timeout=20.0):
    """Wait until chromedriver answers /status with ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/status", timeout=2).json()["value"]["ready"]:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError("chromedriver did not start")


@pytest.fixture()
def page(browser, live_server):
    """The advice page, freshly loaded."""
    base, _ = live_server
    browser.get(base + "/")
    browser.wait_for(lambda: browser.script("return document.readyState === 'complete'"), message="page load")
    return browser


@pytest.fixture(scope="session")
def artifacts():
    """Where tests save screenshots (gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return Path(ARTIFACTS)
