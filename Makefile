# peertape — the two commands a new machine needs are `make demo` and
# `make test`; both install what they need first (`make deps`).

SHELL := /bin/bash
GO ?= go
GOBIN ?= $(shell $(GO) env GOPATH)/bin
BIN := bin/peertape

# Debian packages: protoc for `make generate`, clang/llvm/libbpf for the BPF
# programs, sys/sdt.h for the USDT test program, the zstd CLI for format
# tests and benchmark ratios, promtool (prometheus) for exposition checks,
# bpftrace as an independent USDT oracle, curl for make demo's scrapes, lld
# and gcc for the USDT test programs (x86-64 and arm64).
APT_PACKAGES := protobuf-compiler clang llvm lld gcc libc6-dev libbpf-dev systemtap-sdt-dev zstd prometheus bpftrace curl
PROTOC_GEN_GO_VERSION := v1.36.12

.PHONY: all deps build generate test bench demo fuzz fixtures clean

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@[ -x $(GOBIN)/protoc-gen-go ] && $(GOBIN)/protoc-gen-go --version 2>/dev/null | grep -q $(PROTOC_GEN_GO_VERSION:v%=%) || \
	  $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@$(GO) mod download

build:
	$(GO) build -o $(BIN) ./cmd/peertape

# Regenerates the committed generated code: protobuf (protoc + the pinned
# protoc-gen-go) and the BPF objects (bpf2go with clang). Tests fail when the
# committed code drifts from what this produces.
generate: deps
	PROTOC_GEN_GO=$(GOBIN)/protoc-gen-go ./proto/generate.sh
	$(GO) generate ./bpf

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

# Performance table (see README "Performance"); the synthetic archive is
# generated once into bench-data/.
bench: deps build
	$(GO) run ./tools/bench -bin $(BIN) $(BENCH_FLAGS)

# The main job end to end on the embedded default (no bitcoind, no external
# server): synthesize, inspect, replay offline and through embedded NATS,
# report anomalies, cut and sanitize. Output in demo/.
demo: deps build
	PEERTAPE=$(BIN) ./scripts/demo.sh

# Regenerates the regression fixtures: the synthetic archives (fixed seeds)
# and the golden metrics and anomaly reports of every fixtures/*/archive.
# Review `git diff fixtures/` before committing. CAPTURE=1 first re-records
# fixtures/btcd-regtest from a 3-node btcd regtest network (CAPTURE_DURATION
# of real time plus about a minute; the chain differs on every run).
CAPTURE ?= 0
CAPTURE_DURATION ?= 3m
fixtures: deps build
ifeq ($(CAPTURE),1)
	$(GO) run ./tools/capture -o fixtures/btcd-regtest -duration $(CAPTURE_DURATION)
endif
	$(GO) run ./tools/fixtures
	git status --short fixtures/

# Every fuzz target for FUZZTIME (default 10s) each.
fuzz: deps
	./scripts/fuzz.sh

clean:
	rm -rf bin demo
