#!/bin/sh
# Install headless Chromium and its WebDriver (Debian's chromium, chromium-driver) for the browser tests.
# Called once per test session by tests/web/conftest.py; a no-op when both are present.
# Exit 0: both present. Exit 2: missing and not installable here (not root, or no apt-get).
set -eu
CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver
if [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium/chromedriver missing and cannot install them (needs root and apt-get)" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core >&2
[ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]
