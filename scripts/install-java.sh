#!/bin/sh
# Install a Java runtime for PySpark (Spark 4 needs Java 17 or newer): Debian's headless JRE.
# Called once per test session by tests/bulk/conftest.py; a no-op when a suitable `java` is present.
# Exit 0: present. Exit 2: missing and not installable here (not root, or no apt-get).
set -eu
java_ok() {
    command -v java >/dev/null 2>&1 || return 1
    major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
    [ -n "$major" ] && [ "$major" -ge 17 ]
}
if java_ok; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "Java 17+ missing and cannot install it (needs root and apt-get)" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends openjdk-17-jre-headless >&2
java_ok
