#!/usr/bin/env bash
# Runs gpu-reporter for DUR seconds (default 600) at a 1 s interval with the sim sampler, against a real Redis and a
# static Ollama (/api/ps, /api/tags served from files), then prints its resident memory and CPU per cycle.
# Loopback only; needs redis-server and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-600}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$work/gpu-reporter" ./cmd/gpu-reporter
mkdir -p "$work/ollama/api"
echo '{"models":[{"name":"llama3.1:8b","model":"llama3.1:8b","size":5452595200,"size_vram":5452595200,"digest":"abc","details":{"family":"llama"},"expires_at":"2026-11-27T12:00:00Z"}]}' >"$work/ollama/api/ps"
echo '{"models":[{"name":"llama3.1:8b","model":"llama3.1:8b","size":4920753328},{"name":"qwen2.5:7b","model":"qwen2.5:7b","size":4683087332}]}' >"$work/ollama/api/tags"
echo '{"vendor":"nvidia","gpus":[{"index":0,"name":"Sim RTX 4090","memory_total_mb":24564,"memory_free_mb":19000,"memory_used_mb":5564,"utilization_percent":30,"temperature_c":55}]}' >"$work/sim.json"

rport=$(freeport) oport=$(freeport)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
pids+=($!)
(cd "$work/ollama" && exec python3 -m http.server "$oport" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
sleep 1
"$work/gpu-reporter" --redis-url "redis://127.0.0.1:$rport" --sampler sim --sim-state "$work/sim.json" --interval 1s \
	--ollama-url "http://127.0.0.1:$oport" --node-id soak:11434 >"$work/reporter.log" 2>&1 &
gpid=$!
pids+=($gpid)
for ((t = 60; t <= DUR; t += 60)); do
	sleep 60
	echo "after ${t}s: $(grep -E 'VmRSS' /proc/$gpid/status | tr -s ' \t' ' ')"
done
ticks=$(awk '{print $14+$15}' /proc/$gpid/stat)
echo "peak: $(grep VmHWM /proc/$gpid/status | tr -s ' \t' ' ')"
echo "CPU: $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$DUR" 'BEGIN {printf "%.2f ms per cycle", t / hz / n * 1000}')"
echo "reports in the stream: $(redis-cli -p "$rport" xlen sollol:gpu:stats)"
