#!/bin/sh
# Install Debian packages for the tests: apt-install.sh "what they are" PACKAGE...
# Exit 2 when they cannot be installed here (not root, or no apt-get); apt-get's status otherwise.
set -eu
what=$1
shift
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "$what missing and cannot install it (needs root and apt-get)" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends "$@" >&2
