# Everything CI runs is `make test`; the README documents the same command.
GO ?= go

.PHONY: test build bench bench-e2e demo fuzz vet

test: vet
	./scripts/need-redis.sh
	./scripts/need-chromium.sh
	$(GO) test -race -count=1 ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

build:
	mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

bench:
	./scripts/bench.sh

# bench-e2e: the caddy binary under wrk, vram_aware vs least_conn in alternating rounds (about a minute).
bench-e2e:
	./scripts/bench-e2e.sh

# demo runs the default scenario through vram_aware, least_conn and round_robin (about 30 s; see docs/demo.md).
demo:
	$(GO) run ./cmd/sollol-demo --scenario scenarios/default.json

# fuzz runs each fuzzer for FUZZTIME (default 2m): the report decoder and the request-body model scan.
FUZZTIME ?= 2m
fuzz:
	$(GO) test ./gpustats -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./caddymodule -run '^$$' -fuzz FuzzScanModel -fuzztime $(FUZZTIME)
