#!/usr/bin/env bash
# End-to-end throughput: the cmd/caddy binary proxying small chat requests to four fast local upstreams, with
# vram_aware (fresh reports in a real Redis) and with least_conn, in alternating rounds on the same machine, loaded
# by wrk. Prints requests/s and p99 per round and the ratios of the medians. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-7} DURATION=${DURATION:-10s} CONNS=${CONNS:-64}
./scripts/need-redis.sh
if ! command -v wrk >/dev/null; then
	[ "$(id -u)" -eq 0 ] && apt-get install -y -qq wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
go build -o "$work/caddy" ./cmd/caddy

rport=$(freeport)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.1; done

ups=() upsites=""
for i in 1 2 3 4; do
	p=$(freeport)
	ups+=("127.0.0.1:$p")
	upsites+="http://127.0.0.1:$p {
	respond \`{\"model\":\"llama3.1:8b\",\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"done\":true}\` 200
}
"
	# Every node holds the model with the same free memory, so that vram_aware spreads the load by in-flight
	# requests as least_conn does: the comparison measures what the policy costs, not where it sends traffic
	# (all upstreams live in the same process here, and piling onto one would change the upstream side too).
	free=16000
	loaded='[{"name":"llama3.1:8b","size_mb":5200,"size_vram_mb":5200}]'
	report="{\"vendor\":\"nvidia\",\"node_id\":\"127.0.0.1:$p\",\"timestamp\":$(date +%s.%N),\"gpus\":[{\"index\":0,\"name\":\"RTX 4090\",\"memory_total_mb\":24564,\"memory_free_mb\":$free,\"memory_used_mb\":$((24564 - free)),\"utilization_percent\":20,\"temperature_c\":50}],\"ollama\":{\"reachable\":true,\"loaded\":$loaded,\"installed\":[{\"name\":\"llama3.1:8b\",\"size_mb\":4700}]}}"
	redis-cli -p "$rport" set "sollol:gpu:127.0.0.1:$p" "$report" >/dev/null
done

pport=$(freeport)
policy_block() {
	case $1 in
	vram_aware) echo "lb_policy vram_aware {
			redis redis://127.0.0.1:$rport
			stale_after 1h
		}" ;;
	*) echo "lb_policy $1" ;;
	esac
}
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"llama3.1:8b","messages":[{"role":"user","content":"Why is the sky blue? Answer in one short sentence."}],"stream":false}'
wrk.headers["Content-Type"] = "application/json"
LUA

run() { # policy → "rps p99_ms"
	cat >"$work/Caddyfile" <<CF
{
	admin off
	auto_https off
	log {
		level ERROR
	}
}
$upsites
http://127.0.0.1:$pport {
	reverse_proxy ${ups[*]} {
		$(policy_block "$1")
	}
}
CF
	"$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy-$1.log" 2>&1 &
	local cpid=$!
	until curl -s -o /dev/null "http://127.0.0.1:$pport/api/version"; do sleep 0.1; done
	sleep 0.5
	wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$work/post.lua" "http://127.0.0.1:$pport/api/chat" >"$work/wrk.out"
	kill "$cpid"; wait "$cpid" 2>/dev/null || true
	local rps p99
	rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
	p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) sub("ms","",v); else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' "$work/wrk.out")
	if grep -q "Non-2xx" "$work/wrk.out"; then echo "non-2xx responses with $1:" >&2; cat "$work/wrk.out" >&2; exit 1; fi
	echo "$rps $p99"
}

echo "# $(go version), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; wrk -t2 -c$CONNS -d$DURATION"
printf "%6s %-11s %12s %10s\n" round policy "requests/s" "p99 ms"
: >"$work/results"
for r in $(seq "$ROUNDS"); do
	# Each policy goes first in every other round, so that neither always meets the machine as the other left it.
	order="vram_aware least_conn"
	[ $((r % 2)) -eq 0 ] && order="least_conn vram_aware"
	for pol in $order; do
		read -r rps p99 < <(run "$pol")
		printf "%6s %-11s %12s %10s\n" "$r" "$pol" "$rps" "$p99"
		echo "$pol $rps $p99" >>"$work/results"
	done
done
awk '
	{ n[$1]++; rps[$1, n[$1]] = $2; p99[$1, n[$1]] = $3 }
	function med(a, k,   i, j, t, m, v) { m = n[k]; for (i = 1; i <= m; i++) v[i] = a[k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		return v[int((m + 1) / 2)] }
	END { printf "median: vram_aware %.0f req/s, p99 %.2f ms; least_conn %.0f req/s, p99 %.2f ms\n", med(rps, "vram_aware"), med(p99, "vram_aware"), med(rps, "least_conn"), med(p99, "least_conn")
		printf "ratio of the medians: requests/s %.3f, p99 %.3f\n", med(rps, "vram_aware") / med(rps, "least_conn"), med(p99, "vram_aware") / med(p99, "least_conn")
		# The ratio within each round compares two runs a few seconds apart, which a slow drift of this
		# machine moves less than it moves the medians.
		for (i = 1; i <= n["vram_aware"]; i++) { n["rps"]++; rps["rps", i] = rps["vram_aware", i] / rps["least_conn", i]
			n["p99"]++; p99["p99", i] = p99["vram_aware", i] / p99["least_conn", i] }
		printf "median of the ratios within each round, vram_aware/least_conn: requests/s %.3f (target >= 0.97), p99 %.3f (target <= 1.1)\n", med(rps, "rps"), med(p99, "p99") }' "$work/results"
