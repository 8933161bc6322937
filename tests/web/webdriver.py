"""A minimal W3C WebDriver client for chromedriver: just what the page tests need, over plain HTTP."""
import base64
import time
from pathlib import Path

import requests

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


class WebDriverError(Exception):
    """chromedriver answered with an error."""


class Browser:
    """One WebDriver session: navigate, find, type, click, run script, take screenshots."""

    def __init__(self, driver_url, capabilities):
        self.http = requests.Session()
        self.base = driver_url
        value = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self.session = f"/session/{value['sessionId']}"

    def _call(self, method, path, payload=None):
        response = self.http.request(method, self.base + path, json=payload, timeout=60)
        value = response.json().get("value")
        if response.status_code >= 400:
            raise WebDriverError(f"{method} {path}: {value.get('error')}: {value.get('message', '')[:300]}")
        return value

    def command(self, method, path, payload=None):
        """One command in this session."""
        return self._call(method, self.session + path, payload)

    def quit(self):
        """End the session (closes Chromium)."""
        self._call("DELETE", self.session)

    def get(self, url):
        """Navigate and wait for the page to load."""
        self.command("POST", "/url", {"url": url})

    def find(self, css, within=None):
        """The first element matching a CSS selector (raises when there is none)."""
        path = f"/element/{within}/element" if within else "/element"
        return self.command("POST", path, {"using": "css selector", "value": css})[ELEMENT]

    def find_all(self, css, within=None):
        """Every element matching a CSS selector."""
        path = f"/element/{within}/elements" if within else "/elements"
        return [item[ELEMENT] for item in self.command("POST", path, {"using": "css selector", "value": css})]

    def click(self, element):
        """Click an element as a user would."""
        self.command("POST", f"/element/{element}/click", {})

    def type(self, element, text):
        """Type text into an input (after clearing it)."""
        self.command("POST", f"/element/{element}/clear", {})
        self.command("POST", f"/element/{element}/value", {"text": text})

    def text(self, element):
        """The rendered text of an element."""
        return self.command("GET", f"/element/{element}/text")

    def prop(self, element, name):
        """A DOM property of an element."""
        return self.command("GET", f"/element/{element}/property/{name}")

    def select(self, css, value):
        """Choose an option of a <select> by value, firing its change event as a user's choice does."""
        self.script("const s = document.querySelector(arguments[0]); s.value = arguments[1];"
                    "s.dispatchEvent(new Event('change', {bubbles: true}));", css, value)

    def script(self, source, *args):
        """Run JavaScript in the page and return its result."""
        return self.command("POST", "/execute/sync", {"script": source, "args": list(args)})

    def wait_for(self, condition, timeout=10.0, message="condition"):
        """Poll until condition() is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {message}")

    def screenshot(self, path):
        """Save a PNG of the window."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(self.command("GET", "/screenshot")))
