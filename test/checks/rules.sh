#!/usr/bin/env bash
# promtool check rules and promtool test rules on rules/.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v promtool >/dev/null || { echo "rules.sh: promtool not found (Debian package prometheus)" >&2; exit 1; }

shopt -s nullglob
rules=(rules/*.yml)
tests=(rules/tests/*.yml)
[ ${#rules[@]} -gt 0 ] || { echo "rules.sh: no rules/*.yml" >&2; exit 1; }
[ ${#tests[@]} -gt 0 ] || { echo "rules.sh: no rules/tests/*.yml" >&2; exit 1; }

promtool check rules "${rules[@]}"
promtool test rules "${tests[@]}"

# Every rule file must be exercised by some test file.
for r in "${rules[@]}"; do
  base=$(basename "$r")
  grep -qs -- "\.\./$base" "${tests[@]}" || { echo "rules.sh: $r has no test in rules/tests/" >&2; exit 1; }
done
echo "rules.sh: ok"
