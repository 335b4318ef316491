#!/usr/bin/env bash
# Builds a real Ollama for `make test-ollama` and prints the binary's path on stdout.
#
# Ollama v0.17.4 is a Go module with llama.cpp in cgo, so it builds with this machine's gcc/g++, without cmake and
# without a network fetch beyond the module proxy. The module zip leaves out llama.cpp's vendor/ folder; this script
# installs two of its headers from Debian (nlohmann-json3-dev, libstb-dev) and writes a stub of the third
# (miniaudio.h, used only to decode audio for multimodal models, which the tests never send).
#
# The binary goes to a cache folder outside the checkout and is reused afterwards: the first build took 9-13
# minutes on 2 busy cores, a rebuild with a warm Go build cache 18 s (BENCHMARKS.md). Set OLLAMA_BIN to use another
# binary.
# Progress goes to stderr; when it cannot build, it prints one line saying why and exits 1.
set -euo pipefail

version=v0.17.4
cache="${XDG_CACHE_HOME:-$HOME/.cache}/sollol/ollama-$version"
bin="$cache/ollama"

say() { echo "need-ollama: $*" >&2; }
fail() { say "cannot build Ollama $version: $*"; exit 1; }

if [ -n "${OLLAMA_BIN:-}" ]; then
	[ -x "$OLLAMA_BIN" ] || fail "OLLAMA_BIN=$OLLAMA_BIN is not an executable file"
	echo "$OLLAMA_BIN"
	exit 0
fi
# --version without a server prints "client version is X" and exits 0.
if [ -x "$bin" ] && "$bin" --version 2>&1 | grep -q "version is ${version#v}\$"; then
	echo "$bin"
	exit 0
fi

command -v go >/dev/null 2>&1 || fail "go is not on PATH"
if ! command -v gcc >/dev/null 2>&1 || ! command -v g++ >/dev/null 2>&1; then
	fail "gcc and g++ are needed (Debian: apt-get install build-essential)"
fi

# Debian's packages put the headers where llama.cpp's includes find them: <nlohmann/json.hpp>, "stb/stb_image.h".
if [ ! -f /usr/include/nlohmann/json_fwd.hpp ] || [ ! -f /usr/include/stb/stb_image.h ]; then
	command -v apt-get >/dev/null 2>&1 || fail "the nlohmann-json and stb headers are missing and there is no apt-get to install them"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	say "installing nlohmann-json3-dev and libstb-dev with apt-get (headers llama.cpp's vendor/ folder would hold)"
	$sudo apt-get update -qq >/dev/null || fail "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nlohmann-json3-dev libstb-dev >/dev/null 2>&1 ||
		fail "apt-get install nlohmann-json3-dev libstb-dev failed"
fi

# Outside any module, so that this checkout's go.mod and go.sum stay as they are.
say "downloading github.com/ollama/ollama@$version from the module proxy"
modDir="$(cd / && GO111MODULE=on GOFLAGS=-mod=mod go mod download -json "github.com/ollama/ollama@$version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || true
[ -n "$modDir" ] && [ -d "$modDir" ] || fail "go mod download github.com/ollama/ollama@$version failed"

# The module cache is read-only, and the stub header must go into the source tree: build from a writable copy.
mkdir -p "$cache"
src="$cache/src"
rm -rf "$src"
cp -R "$modDir" "$src"
chmod -R u+w "$src"
mkdir -p "$src/llama/llama.cpp/vendor/miniaudio"
cat >"$src/llama/llama.cpp/vendor/miniaudio/miniaudio.h" <<'EOF'
/*
 * A stand-in for miniaudio.h, written for SOLLOL's test build of Ollama. It declares only what
 * llama.cpp's tools/mtmd/mtmd-helper.cpp calls to decode audio input, and every decoder fails,
 * so audio sent to a multimodal model is refused as "not audio". Text models are unaffected.
 */
#ifndef SOLLOL_MINIAUDIO_STUB_H
#define SOLLOL_MINIAUDIO_STUB_H

#include <stddef.h>

#ifndef MA_API
#define MA_API static
#endif

typedef unsigned long long ma_uint64;
typedef unsigned int ma_uint32;
typedef int ma_result;

#define MA_SUCCESS 0
#define MA_ERROR (-1)

typedef enum { ma_format_unknown = 0, ma_format_f32 = 5 } ma_format;

typedef struct {
	ma_format format;
	ma_uint32 channels;
	ma_uint32 sampleRate;
} ma_decoder_config;

typedef struct {
	ma_decoder_config config;
} ma_decoder;

MA_API ma_decoder_config ma_decoder_config_init(ma_format format, ma_uint32 channels, ma_uint32 sampleRate)
{
	ma_decoder_config c;
	c.format = format;
	c.channels = channels;
	c.sampleRate = sampleRate;
	return c;
}

MA_API ma_result ma_decoder_init_memory(const void *data, size_t size, const ma_decoder_config *config, ma_decoder *decoder)
{
	(void)data; (void)size; (void)config; (void)decoder;
	return MA_ERROR;
}

MA_API ma_result ma_decoder_get_length_in_pcm_frames(ma_decoder *decoder, ma_uint64 *length)
{
	(void)decoder;
	*length = 0;
	return MA_ERROR;
}

MA_API ma_result ma_decoder_read_pcm_frames(ma_decoder *decoder, void *frames, ma_uint64 count, ma_uint64 *read)
{
	(void)decoder; (void)frames; (void)count;
	*read = 0;
	return MA_ERROR;
}

MA_API ma_result ma_decoder_uninit(ma_decoder *decoder)
{
	(void)decoder;
	return MA_SUCCESS;
}

#endif
EOF

# nice: the build takes both cores for a quarter of an hour; whatever else runs here keeps priority.
say "building Ollama $version with $(gcc --version | head -n1) into $bin (the first time 9-13 minutes on 2 busy cores; log: $cache/build.log)"
start=$(date +%s)
if ! (cd "$src" && CGO_ENABLED=1 nice -n 10 go build -trimpath \
	-ldflags "-X github.com/ollama/ollama/version.Version=${version#v}" -o "$bin.tmp" . >"$cache/build.log" 2>&1); then
	tail -n 20 "$cache/build.log" >&2
	fail "go build failed (the last lines of $cache/build.log are above)"
fi
mv "$bin.tmp" "$bin"
say "built Ollama $version in $(($(date +%s) - start)) s: $bin"
echo "$bin"
