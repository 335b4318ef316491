#!/usr/bin/env bash
# routing-bench: every scenario through vram_aware, least_conn and round_robin, REPEAT seeds each (default 3),
# the figures of each scenario as JSON under DIR (default bench-results/routing), and one Markdown table per
# scenario on stdout (medians over the seeds). Progress goes to stderr. About half an hour for the shipped
# scenarios on a 2-core machine.
#
#   scripts/routing-bench.sh                       # all of scenarios/
#   scripts/routing-bench.sh scenarios/homelab.json scenarios/cold-burst.json
#   REPEAT=1 POLICIES=vram_aware,least_conn DIR=/tmp/rb scripts/routing-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v jq >/dev/null || { echo "routing-bench: needs jq (apt-get install jq)" >&2; exit 1; }
REPEAT=${REPEAT:-3}
POLICIES=${POLICIES:-vram_aware,least_conn,round_robin}
DIR=${DIR:-bench-results/routing}
bin=${XDG_CACHE_HOME:-$HOME/.cache}/sollol-go/sollol-demo
mkdir -p "$DIR" "$(dirname "$bin")"
echo "routing-bench: building sollol-demo into $bin" >&2
go build -o "$bin" ./cmd/sollol-demo
if [ $# -gt 0 ]; then files=("$@"); else files=(scenarios/*.json); fi
quiet=--quiet
[ -t 2 ] && quiet=

echo "Routing benchmark: \`scripts/routing-bench.sh\` (policies $POLICIES, --repeat $REPEAT), $(date -u +%Y-%m-%d),"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' with local changes'),"
echo "$(go version | cut -d' ' -f3-), $(nproc) cores, CPU \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\"."
echo "Each figure is its own median over the seeds (so served and failures need not add up); times in simulated"
echo "seconds, a failed request counted as the timeout; failures: OOM / not installed / 503 / timeout / other."
start=$SECONDS
for i in "${!files[@]}"; do
	f=${files[$i]}
	name=$(basename "$f" .json)
	echo "routing-bench: [$((i + 1))/${#files[@]}] $name ($((SECONDS - start))s so far)" >&2
	"$bin" --scenario "$f" --policies "$POLICIES" --repeat "$REPEAT" --json "$DIR/$name.json" $quiet >"$DIR/$name.txt"
	echo
	jq -r '"### \(.scenario)\n\n\(.description)\n\n\(.nodes) nodes, \(.duration) of arrivals, seeds \(.seeds | map(tostring) | join(", ")).\n"' "$DIR/$name.json"
	echo "| policy | served | failures | cold loads | p50 | p95 | TTFT p50 | TTFT p95 | p95/ideal | hot spots (node-s) |"
	echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
	jq -r '
		def s: if . < 0 then "—" elif . < 1 then (. * 100 | round / 100 | tostring) + "s" else (. * 10 | round / 10 | tostring) + "s" end;
		def n: . * 10 | round / 10 | tostring;
		def row(p): p.median as $m | "| \(p.policy) | \($m.ok | n)/\($m.requests | n) | \([$m.failed_oom, $m.failed_not_installed, $m.failed_503, $m.failed_timeout, $m.failed_other] | map(n) | join(" / ")) | \($m.cold_loads | n) | \($m.p50_s | s) | \($m.p95_s | s) | \($m.ttft_p50_s | s) | \($m.ttft_p95_s | s) | \(if $m.p95_over_ideal < 0 then "—" else ($m.p95_over_ideal * 100 | round / 100 | tostring) + "×" end) | \($m.hot_spot_node_s | round) |";
		(.policies[] | row(.)), row(.ideal), row(.clairvoyant)' "$DIR/$name.json"
done
echo "routing-bench: done in $((SECONDS - start))s; JSON and the demo's full output in $DIR" >&2
