#!/usr/bin/env bash
# Origin lookup cost (issue 7): 10,000 per-prefix lookups against small
# MaxMind-format databases, and one SYN_RECV scrape of 100,000 sockets with
# and without origin (synthetic sockets: the collector's cost beside the
# kernel dump, which test/bench/exporter.sh measures on real sockets).
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench 'BenchmarkLookup10k' -benchmem -count 5 ./internal/origin/
go test -run '^$' -bench 'BenchmarkCollectorOrigin' -benchmem -count 5 ./internal/synrecv/
