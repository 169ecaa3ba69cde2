# synguard build, test and benchmark targets.
GO          ?= go
BIN         ?= bin
STATICCHECK ?= $(shell command -v staticcheck || echo "$$($(GO) env GOPATH)/bin/staticcheck")
# Integration tests make network namespaces, a private firewalld and real
# SYN floods: they need root (CI is root) and skip, saying so, without it.
# -p 1: the integration packages each run real firewalld instances, floods,
# nspawn hosts and a whole Prometheus/Alertmanager loop whose timing the
# end-to-end tests assert on. The zone-mode crash failures once blamed on
# running them side by side were a lift lost in the engine (issue 12,
# finding 1, fixed; test/soak TestUnblockDuringRestoreAfterCrash), and the
# seven firewalld packages alone pass with -p 2 (6 min 16 s against 10 min
# 52 s), but the loop and host labs were not measured so: one package at a
# time keeps CI's wall clock predictable on two cores. GOTEST_FLAGS=... to
# choose otherwise.
GOTEST_FLAGS ?= -count=1 -p 1 -timeout 30m

.PHONY: all deps build test vet staticcheck gotest checks bench demo clean

all: build

# Exactly what .ci/packages lists, plus staticcheck; a no-op when all is
# there (scripts/install-deps.sh; SYNGUARD_NO_INSTALL=1 only checks).
deps:
	bash scripts/install-deps.sh

build:
	$(GOBUILD) -o $(BIN)/synguard-exporter ./cmd/exporter
	$(GOBUILD) -o $(BIN)/synguard-responder ./cmd/responder

vet:
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

gotest:
	$(GO) test $(GOTEST_FLAGS) ./...

# Every test/checks/*.sh is a self-contained check (promtool, amtool,
# docker-compose config, systemd-analyze, ...); each exits non-zero on failure.
# All run even when one fails, so one red run shows every failing check.
checks: build
	@failed=""; for c in test/checks/*.sh; do [ -e "$$c" ] || continue; echo "== $$c"; \
	  bash "$$c" || failed="$$failed $$c"; done; \
	if [ -n "$$failed" ]; then echo "FAILED checks:$$failed"; exit 1; fi; echo "all checks passed"

test: deps vet staticcheck build gotest checks

# Benchmarks and large floods: never run in CI.
bench: build
	@set -e; for b in test/bench/*.sh; do [ -e "$$b" ] || continue; echo "== $$b"; bash "$$b"; done

demo: deps build
	bash scripts/demo.sh

clean:
	rm -rf $(BIN)

# The randomized fault campaign of issue 12 (root): every backend setup
# against a real firewalld in a namespace for SOAK_DURATION in all. Never in
# CI, which runs its 2-minute version in gotest. SOAK_SEED=N replays a run.
SOAK_DURATION ?= 20m
.PHONY: soak
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -v -timeout 45m -run 'TestSoak$$' ./test/soak

# Release: GOBUILD (version stamping, static) used by build above; make package; make notices.
include packaging/package.mk
