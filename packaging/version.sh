#!/usr/bin/env bash
# Prints the version the binaries and packages carry:
#   at a tag vX (X matching VERSION):  X
#   N commits after the newest tag vX: X+N.gHASH   (sorts above X in dpkg and rpm)
#   no tag yet:                        VERSION~dev.N.gHASH, N = commits so far
#                                      (sorts below VERSION, above any earlier one)
# Outside a git checkout (a release tarball): VERSION as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
base=$(tr -d ' \n' <VERSION)
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "$base"; exit 0
fi
if d=$(git describe --tags --match 'v[0-9]*' --long 2>/dev/null); then
  # vX-N-gHASH
  tag=${d%-*-g*}; rest=${d#"$tag"-}; n=${rest%%-*}; hash=${rest#*-}
  if [ "$n" = 0 ]; then echo "${tag#v}"; else echo "${tag#v}+$n.$hash"; fi
  exit 0
fi
echo "$base~dev.$(git rev-list --count HEAD).g$(git rev-parse --short=7 HEAD)"
