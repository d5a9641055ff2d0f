#!/bin/bash
# Runs the whole test suite (or the paths given) and ends with one plain
# summary line, "tests: N passed, N failed, N skipped", that any CI can read.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp "${TMPDIR:-/tmp}/ringside-test.XXXXXX")
trap 'rm -f "$log"' EXIT
NO_COLOR=1 deno test -A --no-check=remote "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^(ok|FAILED) \| ' "$log" | tail -n 1)
passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")
failed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")
ignored=$(sed -nE 's/.* ([0-9]+) ignored.*/\1/p' <<<"$summary")
echo
echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${ignored:-0} skipped"
if [ "$rc" -eq 0 ] && [ "${passed:-0}" -eq 0 ]; then
  echo "tests: no test ran" >&2
  exit 1
fi
exit "$rc"
