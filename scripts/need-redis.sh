#!/usr/bin/env bash
# Makes sure redis-server and redis-cli are on PATH: the integration tests start real Redis servers, Sentinel groups
# (redis-server --sentinel) and Clusters (joined with redis-cli --cluster create). Installs them with apt-get when it
# can; running it again does nothing.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "redis-server or redis-cli not found: installing them with apt-get (the integration tests start real Redis servers)" >&2
	$sudo apt-get update -qq >/dev/null
	# redis-server brings redis-tools (redis-cli) on Debian and Ubuntu; naming both also covers a lone redis-server.
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server redis-tools >/dev/null
	# Debian starts a system Redis on 6379; the tests never use it, and a CI machine should not keep it running.
	$sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
	exit 0
fi
echo "redis-server or redis-cli not found: install Redis 7 or newer (macOS: brew install redis; Fedora: dnf install redis) and run make test again" >&2
exit 1
