# lanlobby build, test and benchmark targets.
GO        ?= go
BIN       ?= bin
PKGS      ?= ./...
# Fuzz targets run briefly in `make test`, by a count of inputs: a short
# time limit can end inside the fuzzer's warm-up (gathering the baseline
# coverage takes seconds on a busy machine), which Go then reports as
# "context deadline exceeded". A count cannot expire. The seed corpora also
# run as plain tests in `unit`. `make fuzz` runs each target for FUZZLONG.
FUZZTIME  ?= 2000x
FUZZLONG  ?= 60s
# package:target pairs, one `go test -fuzz` each (Go fuzzes one target at a time).
FUZZ_TARGETS = tcpconn:FuzzLineReader lobby:FuzzRequest lobby:FuzzClientMessage lobby:FuzzRegistryText \
	beacon:FuzzDecode beacon:FuzzVerify beacon/mdns:FuzzHandleMessage beacon/mdns:FuzzVerifyTXT \
	rules:FuzzLayersAgree rules:FuzzTruncate doctor:FuzzDecodeProbe

.PHONY: all build man test vet fmt-check unit fuzz-short fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN)/lanlobby ./cmd/lanlobby

# man: the manual page, from the commands' own help (man -l bin/lanlobby.1).
man: build
	$(BIN)/lanlobby man > $(BIN)/lanlobby.1

# test: formatting, vet, then every package (unit, loopback and namespace
# multi-host tests) under the race detector.
test: fmt-check vet fuzz-short unit

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# fuzz-short: each fuzz target for FUZZTIME, a count of inputs (`Nx`) or a
# duration (seed corpora in */testdata/fuzz).
fuzz-short:
	@log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "fuzz $$pkg $$fn $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg/ >"$$log" 2>&1 || { cat "$$log"; exit 1; }; \
	done

# fuzz: each target for FUZZLONG.
fuzz:
	$(MAKE) fuzz-short FUZZTIME=$(FUZZLONG)

# bench: the Go benchmarks once, then issue 13's table (lanlobby bench
# table): bench latency and bench load, 3 runs each, every figure a ratio
# to its baseline from the same run, medians. Load runs hold 10,000
# members for 20 s (floor 10 s), shorter than bench load's defaults, so
# that the whole stays within about five minutes.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./lobby/ ./tcpconn/
	$(BIN)/lanlobby bench table

clean:
	rm -rf $(BIN)
