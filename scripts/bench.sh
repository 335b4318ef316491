#!/usr/bin/env bash
# Runs the benchmarks that compare vram_aware with Caddy's own policies and prints the ratios.
# Output: bench.out (raw, benchstat-friendly) and the ratio table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/need-redis.sh
COUNT=${COUNT:-5}
out=${BENCH_OUT:-bench.out}
{
	echo "# $(go version) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
	# One run of every policy after another, COUNT times, so that a busy moment of the machine falls on all of them.
	for _ in $(seq "$COUNT"); do
		# A second a run, so that vram_aware_reporting sees every node report at least once.
		go test ./caddymodule -run '^$' -bench 'BenchmarkSelect$' -benchtime 1s -count 1
	done
	go test ./caddymodule -run '^$' -bench 'ScanModel|UnmarshalModel' -count "$COUNT"
	go test ./gpustats -run '^$' -bench 'Freshness' -benchtime 1000x -count "$COUNT"
	go test ./gpustats -run '^$' -bench 'WatcherScale' -benchtime 1x -count 1
} 2>&1 | grep -E '^(#|Benchmark|goos|goarch|pkg|cpu)' | tee "$out"

echo
echo "Select, vram_aware vs Caddy's built-in policies (median ns/op of $COUNT runs; ratios: median of the ratios"
echo "within each run, which a busy moment of the machine moves less; allocs/op of vram_aware; reporting: vram_aware"
echo "while every node sends a report each second):"
awk '
	/^BenchmarkSelect\/upstreams=/ {
		split($1, p, "/"); n = p[2]; sub("upstreams=", "", n); pol = p[3]; sub(/-[0-9]+$/, "", pol)
		k = n SUBSEP pol; c[k]++; v[k, c[k]] = $3; if (pol == "vram_aware") allocs[n] = $7
		ns[n] = 1
	}
	function median(a, m,   i, j, t) {
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return a[int((m + 1) / 2)]
	}
	function medianOf(k,   i, a) {
		for (i = 1; i <= c[k]; i++) a[i] = v[k, i]
		return median(a, c[k])
	}
	function medianRatio(k, base,   i, a) {
		for (i = 1; i <= c[k]; i++) a[i] = v[k, i] / v[base, i]
		return median(a, c[k])
	}
	END {
		printf "%10s %12s %12s %16s %10s %14s %7s %12s %10s\n", "upstreams", "vram_aware", "least_conn", "random_choose_2",
			"÷least", "÷random_ch_2", "allocs", "reporting", "÷least"
		for (n = 1; n <= 4096; n++) if (n in ns) {
			a = n SUBSEP "vram_aware"; l = n SUBSEP "least_conn"; r = n SUBSEP "random_choose_2"; rp = n SUBSEP "vram_aware_reporting"
			printf "%10d %12.0f %12.0f %16.0f %9.2fx %13.2fx %7s %12.0f %9.2fx\n", n, medianOf(a), medianOf(l), medianOf(r),
				medianRatio(a, l), medianRatio(a, r), allocs[n], medianOf(rp), medianRatio(rp, l)
		}
	}' "$out"
echo
echo "Model extraction, scanModel vs json.Unmarshal (median ns/op):"
awk '
	/^Benchmark(ScanModel|UnmarshalModel)\// {
		split($1, p, "/"); kind = p[1]; sub("Benchmark", "", kind); case_ = p[2] "/" p[3]; sub(/-[0-9]+$/, "", case_)
		k = kind SUBSEP case_; c[k]++; v[k, c[k]] = $3; cases[case_] = 1; if (kind == "ScanModel") al[case_] = $(NF-1)
	}
	function median(k,   i, j, t, m, a) {
		m = c[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return a[int((m + 1) / 2)]
	}
	END {
		printf "%16s %12s %14s %9s %14s\n", "body", "scanModel", "json.Unmarshal", "speed-up", "scan allocs"
		for (k in cases) { s = median("ScanModel" SUBSEP k); u = median("UnmarshalModel" SUBSEP k); printf "%16s %12.0f %14.0f %8.1fx %14s\n", k, s, u, u / s, al[k] }
	}' "$out"
echo
echo "Freshness and watcher cost:"
grep -E '^Benchmark(Freshness|SollolFreshness|WatcherScale)' "$out"
