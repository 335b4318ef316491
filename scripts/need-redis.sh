#!/usr/bin/env bash
# Makes sure redis-server is on PATH: the integration tests start real ones. Installs it with apt-get when it can.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "redis-server not found: installing it with apt-get (the integration tests start real Redis servers)" >&2
	$sudo apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
	# Debian starts a system Redis on 6379; the tests never use it, and a CI machine should not keep it running.
	$sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
	exit 0
fi
echo "redis-server not found: install Redis 6 or newer (macOS: brew install redis; Fedora: dnf install redis) and run make test again" >&2
exit 1
