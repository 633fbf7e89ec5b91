# lanlobby build, test and benchmark targets.
GO        ?= go
BIN       ?= bin
PKGS      ?= ./...
# Fuzz targets run briefly in `make test`; `make fuzz` runs them longer.
FUZZTIME  ?= 3s

.PHONY: all build test vet fmt-check unit fuzz-short fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN)/lanlobby ./cmd/lanlobby

# test: formatting, vet, then every package (unit, loopback and namespace
# multi-host tests) under the race detector.
test: fmt-check vet unit

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./lobby/ ./tcpconn/
	$(BIN)/lanlobby bench latency

clean:
	rm -rf $(BIN)
