#!/usr/bin/env bash
# mutation.sh: mutation testing of the domain (watchdog/ and its
# sub-packages) with gremlins (github.com/go-gremlins/gremlins). Each
# mutant flips one condition, boundary, arithmetic or increment; a test
# that fails "kills" it. Efficacy = killed / (killed + lived): a mutant
# that lives is a rule no test would notice breaking. README.md lists the
# figure and why each survivor cannot change behaviour.
#
#   scripts/mutation.sh                 # the whole domain, about 15 min on 2 cores
#   scripts/mutation.sh ./watchdog      # one package tree
#   WORKERS=1 scripts/mutation.sh       # on a busy machine
#
# Prints the surviving mutants (LIVED) and the totals; the JSON report
# goes to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:${HOME}/go/bin:${PATH}"
# Test caches would hide the mutants from the tests.
export GOFLAGS=-count=1

if ! command -v gremlins >/dev/null 2>&1; then
	go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
fi

target=${1:-./watchdog}
OUT=${OUT:-/tmp/container-watchdog-mutation.json}
workers=${WORKERS:-2}

# fakedocker is a test fixture, not product code: mutating it measures
# nothing about the watchdog.
gremlins unleash "$target" \
	--workers "$workers" \
	--timeout-coefficient 4 \
	--exclude-files 'docker/fakedocker/' \
	--exclude-files '_test\.go$' \
	--output "$OUT" \
	--output-statuses lt
