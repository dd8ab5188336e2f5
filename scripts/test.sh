#!/usr/bin/env bash
# test.sh runs every check: it installs the Debian packages the tests need,
# then checks formatting and go vet, runs all tests with the race detector,
# and runs each fuzz target briefly (FUZZTIME, default 3s).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-test-deps.sh

echo "== gofmt"
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
	echo "test: error: files not formatted with gofmt:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 ./...

echo "== fuzz (${FUZZTIME:-3s} each)"
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		echo "-- $pkg $target"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="${FUZZTIME:-3s}" "$pkg"
	done
done
echo "== all checks passed"
