# Everything CI runs is `make test` and then `make test-ollama`; the README documents the same commands.
GO ?= go

.PHONY: test test-ollama build bench bench-e2e demo routing-bench fuzz vet

test: vet
	./scripts/need-redis.sh
	./scripts/need-chromium.sh
	$(GO) test -race -count=1 -skip '^TestRouting$$' ./...
	@# The routing test compares latencies in simulations run many times faster than real time, where another
	@# package's tests on the same cores, or the race detector's cost per request, read as simulated delay: it
	@# runs alone and without -race (the other tests cover the same code with it).
	$(GO) test -count=1 -run '^TestRouting$$' ./cmd/sollol-demo

# test-ollama: the tests against real Ollama servers serving models the tests generate (internal/ollamareal, build
# tag ollama). The first run builds Ollama v0.17.4 from its Go module into a cache folder outside the checkout
# (scripts/need-ollama.sh, 9-13 minutes on two busy cores); later runs reuse it, and the tests take about a minute.
test-ollama:
	./scripts/need-redis.sh
	bin="$$(./scripts/need-ollama.sh)" && OLLAMA_BIN="$$bin" $(GO) test -tags ollama -race -count=1 -v ./internal/ollamareal/

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags ollama ./internal/ollamareal/

build:
	mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

bench:
	./scripts/bench.sh

# bench-e2e: the caddy binary under wrk, vram_aware vs least_conn in alternating rounds (about a minute).
bench-e2e:
	./scripts/bench-e2e.sh

# demo runs the default scenario through vram_aware, least_conn and round_robin (about 30 s; see docs/demo.md).
# The binary is built into a cache folder outside the checkout; the first build compiles Caddy and takes minutes.
DEMO_BIN ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sollol-go/sollol-demo
demo:
	@test -x "$(DEMO_BIN)" || echo "make demo: building sollol-demo into $(DEMO_BIN) for the first time (it compiles Caddy: a few minutes on a small machine)..."
	@mkdir -p "$(dir $(DEMO_BIN))"
	@$(GO) build -o "$(DEMO_BIN)" ./cmd/sollol-demo
	"$(DEMO_BIN)" --scenario scenarios/default.json

# routing-bench runs every scenario through vram_aware, least_conn and round_robin, three seeds each (about half
# an hour), and prints the tables of BENCHMARKS.md.
routing-bench:
	./scripts/routing-bench.sh

# fuzz runs each fuzzer for FUZZTIME (default 2m): the report decoder and the request-body model scan.
FUZZTIME ?= 2m
fuzz:
	$(GO) test ./gpustats -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./caddymodule -run '^$$' -fuzz FuzzScanModel -fuzztime $(FUZZTIME)
