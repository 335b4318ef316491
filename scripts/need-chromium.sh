#!/usr/bin/env bash
# Makes sure chromium is on PATH: the status page test drives a headless Chromium. Installs Debian's chromium
# package with apt-get when it can; elsewhere it fails only with CI=true (where the test would fail too), and
# otherwise says that the browser test will be skipped.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "chromium not found: installing it with apt-get (the status page test opens the page in headless Chromium)" >&2
	$sudo apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
	exit 0
fi
if [ "${CI:-}" = "true" ]; then
	echo "chromium not found and CI=true: install Chromium; the status page browser test fails without it" >&2
	exit 1
fi
echo "chromium not found: the status page browser test will be skipped (Fedora: dnf install chromium)" >&2
