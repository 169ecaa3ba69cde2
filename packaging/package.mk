# Release glue, included by the Makefile: version stamping for `make build`,
# and `make package` (static binaries, tarballs, .deb and .rpm for amd64 and
# arm64). See packaging/README.md.

SYNGUARD_VERSION ?= $(shell packaging/version.sh)
GIT_REVISION     ?= $(shell git rev-parse HEAD 2>/dev/null)
GIT_BRANCH       ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
BUILD_USER       ?= $(shell id -un)@$(shell hostname)
# The commit's date, not the clock, so two builds of one commit are the same
# (prometheus/common/version's own format).
BUILD_DATE       ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d-%H:%M:%S 2>/dev/null)
VERSION_PKG      := github.com/prometheus/common/version
GO_LDFLAGS       := -s -w \
	-X $(VERSION_PKG).Version=$(SYNGUARD_VERSION) \
	-X $(VERSION_PKG).Revision=$(GIT_REVISION) \
	-X $(VERSION_PKG).Branch=$(GIT_BRANCH) \
	-X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)
# Static (no glibc dependency: Debian 11 and RHEL 8 have glibc 2.31 and
# 2.28) and reproducible paths.
GOBUILD          := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(GO_LDFLAGS)'

DIST       ?= $(BIN)/dist
PKG_ARCHES ?= amd64 arm64

.PHONY: package notices

# Static binaries, a tarball and the .deb and .rpm of both packages for
# each of PKG_ARCHES, in $(DIST).
package:
	GO='$(GO)' DIST='$(DIST)' PKG_ARCHES='$(PKG_ARCHES)' SYNGUARD_VERSION='$(SYNGUARD_VERSION)' \
	  GO_LDFLAGS='$(GO_LDFLAGS)' packaging/package.sh

# Rewrite THIRD_PARTY_NOTICES.md after a dependency change.
notices:
	GO='$(GO)' packaging/notices.sh
