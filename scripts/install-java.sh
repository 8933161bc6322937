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
sh "$(dirname "$0")/apt-install.sh" "Java 17+" openjdk-17-jre-headless
java_ok
