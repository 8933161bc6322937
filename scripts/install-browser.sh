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
sh "$(dirname "$0")/apt-install.sh" "chromium/chromedriver" chromium chromium-driver fonts-dejavu-core
[ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]
