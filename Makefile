# scp_exporter — see README.md. `make demo` and `make test` are the two
# commands a new user needs.

GO        ?= go
BIN       := scp_exporter
FAKE_BIN  := .build/scp-fake-api
PKG       := github.com/prometheus/common/version
VERSION   ?= $(shell cat VERSION)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)
BUILD_USER ?= $(shell id -un 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
LDFLAGS   := -X $(PKG).Version=$(VERSION) -X $(PKG).Revision=$(REVISION) -X $(PKG).Branch=$(BRANCH) \
             -X $(PKG).BuildDate=$(BUILD_DATE) -X $(PKG).BuildUser=$(BUILD_USER)
DOCKER_IMAGE ?= scp_exporter:$(VERSION)

.PHONY: all build fake test fuzz bench loadtest lint demo docker clean

all: build

## build: the static scp_exporter binary with version information
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

## fake: the fake SCP API used by the demo
fake:
	@mkdir -p .build
	$(GO) build -o $(FAKE_BIN) ./cmd/scp-fake-api

## test: vet and race-enabled tests (end-to-end tests need promtool/prometheus; CI installs them)
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

BENCH      ?= .
BENCH_PKGS ?= ./scp ./collector
BENCH_COUNT ?= 6

## bench: Go benchmarks with -benchmem: signing, decoding members, a scrape of N images against the in-process fake (BENCH=regexp, BENCH_COUNT=n; see BENCHMARKS.md)
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(BENCH_COUNT) $(BENCH_PKGS)

## loadtest: the exporter binary against the fake API at 100-10,000 images beside a minimal reference client (SCP_LOADTEST_FULL=1 adds 10,000 images at 50 ms)
loadtest:
	$(GO) test -tags loadtest -count=1 -timeout 60m -run Load -v ./loadtest

GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := .build/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

## lint: golangci-lint with .golangci.yml (pinned; built once into .build/ through the Go module proxy)
lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	GOBIN=$(CURDIR)/$(dir $(GOLANGCI_LINT)) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

## fuzz: each fuzz target for FUZZTIME (default 15s), from its committed seed corpus
FUZZTIME ?= 15s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMembers$$' -fuzztime $(FUZZTIME) ./scp/
	$(GO) test -run '^$$' -fuzz '^FuzzMembersFastPath$$' -fuzztime $(FUZZTIME) ./scp/
	$(GO) test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME) ./config/

## demo: the exporter against the built-in fake API, no cloud account needed
demo: build fake
	@BIN=./$(BIN) FAKE_BIN=./$(FAKE_BIN) ./scripts/demo.sh

## docker: the container image (needs a Docker engine; none runs on the dev machines)
docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
	  --build-arg BRANCH=$(BRANCH) --build-arg BUILD_DATE=$(BUILD_DATE) -t $(DOCKER_IMAGE) .

clean:
	rm -rf $(BIN) .build
