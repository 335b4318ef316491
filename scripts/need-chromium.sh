#!/usr/bin/env bash
# Makes sure chromium is on PATH: the status page test drives a headless Chromium (and fails without one when
# CI=true). Installs Debian's chromium package with apt-get when it can.
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
echo "chromium not found: install Chromium (Fedora: dnf install chromium; macOS: brew install --cask chromium) and run make test again; without it the browser test is skipped, or fails when CI=true" >&2
exit 1
