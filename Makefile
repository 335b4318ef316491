# Everything CI runs is `make test`; the README documents the same command.
GO ?= go

.PHONY: test build bench demo fuzz vet

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

demo:
	@echo "make demo: not yet (the fleet simulator issue adds it)"

# fuzz runs each fuzzer for FUZZTIME (default 2m).
FUZZTIME ?= 2m
fuzz:
	$(GO) test ./gpustats -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
