# The two commands of the README: `make run` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: run build test vet fmt-check fuzz bench

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/sluice ./cmd/sluice

# Builds and starts the gateway on the embedded default config (127.0.0.1:8080,
# status on 127.0.0.1:9090). Needs no API keys and no other servers.
run: build
	./bin/sluice run

# The whole suite: formatting, vet, then every test with the race detector
# (fuzz targets run their checked-in seed corpora).
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 15m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Short fuzzing session over every parser (not part of `make test`).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./internal/config -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./internal/router -run '^$$' -fuzz FuzzCompile -fuzztime $(FUZZTIME)
	$(GO) test ./internal/router -run '^$$' -fuzz FuzzMatch -fuzztime $(FUZZTIME)

# Side-by-side load test against nginx (installs nginx and wrk with apt-get).
bench:
	bash bench/run.sh
