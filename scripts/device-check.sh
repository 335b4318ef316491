#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, in one run of a few minutes at most; never needed by CI.
#
#   scripts/device-check.sh --prepare      here, with Go: builds what the GPU machine needs into .device/
#   OUT=DIR scripts/device-check.sh        there: runs the checks and writes the results under $OUT
#
# The checks: gpu-reporter --once --json with the NVML sampler and with the nvidia-smi sampler side by side; the
# time of 100 such reports from each (process start, sampler open and one sample each, so an upper bound of a
# sample); the running daemon's resident memory; and, where the Ollama there uses the GPU, the size_vram that
# /api/ps gives for the generated model. The machine needs no Go and no network: .device/ holds gpu-reporter, a
# generated GGUF and, when one was built here, Ollama (gzipped; the test build of Ollama is CPU-only, so only an
# Ollama installed on the GPU machine shows GPU memory).
set -uo pipefail
cd "$(dirname "$0")/.."
dev=.device

if [ "${1:-}" = "--prepare" ]; then
	set -e
	mkdir -p "$dev"
	grep -qx "/$dev/" .git/info/exclude 2>/dev/null || echo "/$dev/" >>.git/info/exclude
	# Stripped, so that the folder stays well inside the 64 MiB a GPU machine's working tree may carry.
	go build -ldflags "-s -w" -o "$dev/gpu-reporter" ./cmd/gpu-reporter
	go run ./internal/gguf/cmd/gguf-llama -blocks 2 -seed 1 -o "$dev/small.gguf"
	if bin="$(./scripts/need-ollama.sh 2>/dev/null)"; then
		strip -o "$dev/ollama" "$bin" && gzip -f "$dev/ollama"
	fi
	du -sh "$dev"/*
	echo "prepared $dev/: run the check there with carry [\"$dev\"] and OUT set"
	exit 0
fi

OUT="${OUT:-$PWD/device-out}"
mkdir -p "$OUT"
# At most eight files come back from a GPU machine's $OUT: the summary, the two reports, the daemon's and Ollama's
# logs, /api/ps and the errors.
summary="$OUT/summary.txt"
errors="$OUT/errors.log"
: >"$summary"
: >"$errors"
note() { echo "$*" | tee -a "$summary"; }

reporter="${GPU_REPORTER:-$dev/gpu-reporter}"
if [ ! -x "$reporter" ]; then
	command -v go >/dev/null 2>&1 || { note "no $reporter and no Go: run scripts/device-check.sh --prepare first"; exit 1; }
	go build -o "$dev/gpu-reporter" ./cmd/gpu-reporter || { note "building gpu-reporter failed"; exit 1; }
	reporter="$dev/gpu-reporter"
fi
if ! command -v nvidia-smi >/dev/null 2>&1; then
	note "no nvidia-smi on PATH: this is not a machine with an NVIDIA driver"
	exit 1
fi
note "GPUs: $(nvidia-smi -L 2>&1 | tr '\n' ';')"

# 1. One report from each sampler, side by side (memory in MiB, utilisation, temperature, power).
for s in nvml nvidia-smi; do
	"$reporter" --once --json --sampler "$s" --node-id device:11434 >"$OUT/report-$s.json" 2>>"$errors"
	note "report with --sampler $s (exit $?): $(head -c 1200 "$OUT/report-$s.json")"
done

# 2. 100 reports from each sampler, one process each.
for s in nvml nvidia-smi; do
	start=$(date +%s%N)
	ok=0
	for _ in $(seq 100); do
		"$reporter" --once --json --sampler "$s" --node-id device:11434 >/dev/null 2>&1 && ok=$((ok + 1))
	done
	ms=$((($(date +%s%N) - start) / 1000000))
	note "100 reports with --sampler $s: $ms ms ($ok succeeded), $((ms / 100)) ms each including process start"
done

# 3. The daemon's resident memory after 5 s of reports every 100 ms (publishing to a Redis there is, if any).
redis_args=()
if command -v redis-server >/dev/null 2>&1; then
	redis-server --port 6390 --save "" --appendonly no --daemonize no >/dev/null 2>&1 &
	redis_pid=$!
	redis_args=(--redis-port 6390)
	sleep 0.5
fi
"$reporter" --sampler nvml --interval 100ms --node-id device:11434 --metrics-addr 127.0.0.1:9119 "${redis_args[@]}" \
	>"$OUT/daemon.log" 2>&1 &
daemon=$!
sleep 5
rss=$(awk '/VmRSS/ {print $2, $3}' "/proc/$daemon/status" 2>/dev/null)
hwm=$(awk '/VmHWM/ {print $2, $3}' "/proc/$daemon/status" 2>/dev/null)
published=$(curl -s http://127.0.0.1:9119/metrics 2>/dev/null | awk '/^sollol_reporter_publishes_total/ {print $2}')
if kill -0 "$daemon" 2>/dev/null; then
	note "daemon (nvml, 100 ms interval): RSS $rss (peak $hwm) after 5 s; reports published: ${published:-none}${redis_args[*]:+ to a local Redis}"
else
	note "the daemon exited within 5 s: $(tail -n1 "$OUT/daemon.log")"
fi
kill "$daemon" 2>/dev/null
wait "$daemon" 2>/dev/null
[ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null

# 4. size_vram of the generated model in the Ollama there: OLLAMA_BIN, one on PATH, or the carried test build.
ollama="${OLLAMA_BIN:-$(command -v ollama || true)}"
if [ -z "$ollama" ] && [ -f "$dev/ollama.gz" ]; then
	gunzip -c "$dev/ollama.gz" >/tmp/ollama-device && chmod +x /tmp/ollama-device && ollama=/tmp/ollama-device
fi
if [ -z "$ollama" ] || [ ! -f "$dev/small.gguf" ]; then
	note "no Ollama or no generated model: size_vram not checked"
	exit 0
fi
home=$(mktemp -d)
cp "$dev/small.gguf" "$home/"
printf 'FROM ./small.gguf\nTEMPLATE """{{ .Prompt }}"""\nPARAMETER num_predict 8\n' >"$home/Modelfile"
export HOME="$home" OLLAMA_HOST=127.0.0.1:11499 OLLAMA_MODELS="$home/models"
"$ollama" serve >"$OUT/ollama-serve.log" 2>&1 &
serve=$!
for _ in $(seq 100); do curl -sf "http://$OLLAMA_HOST/" >/dev/null && break; sleep 0.1; done
(cd "$home" && "$ollama" create sollol-small -f Modelfile) >>"$OUT/ollama-serve.log" 2>&1
curl -s "http://$OLLAMA_HOST/api/generate" -d '{"model":"sollol-small","prompt":"hi","stream":false}' >>"$errors"
curl -s "http://$OLLAMA_HOST/api/ps" >"$OUT/ps.json"
note "Ollama $("$ollama" --version 2>&1 | tail -n1): /api/ps $(head -c 600 "$OUT/ps.json")"
grep -q '"size_vram":0' "$OUT/ps.json" && note "this Ollama keeps the model on the CPU (size_vram 0): it was built without a GPU backend"
grep -m3 -i "inference compute\|library=" "$OUT/ollama-serve.log" | tee -a "$summary"
kill "$serve" 2>/dev/null
wait "$serve" 2>/dev/null
rm -rf "$home"
exit 0
