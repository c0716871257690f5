#!/bin/bash
# bench/ab.sh OLD NEW: the hot-path benchmarks and three `bigfather bench` runs, alternating an old
# and a new checkout of this repository (two directories, e.g. `git worktree add --detach /tmp/old REV`),
# for a before/after table in bench/RESULTS.md. Output goes to $OUT (default /tmp/bigfather-ab).
# Benchmarks are found by name in each tree, so packages may move between the two.
set -euo pipefail
old=$(cd "$1" && pwd); new=$(cd "$2" && pwd); out=${OUT:-/tmp/bigfather-ab}; rounds=${ROUNDS:-6}
mkdir -p "$out"
benches='BenchmarkDecode BenchmarkRulesEval BenchmarkTransformApply BenchmarkDecodeToParquet'
build() { # tree tag: the binary and one test binary per package holding one of $benches
	local tree=$1 tag=$2 b pkg
	(cd "$tree" && go build -o "$out/bigfather-$tag" ./cmd/bigfather)
	: > "$out/pkgs-$tag"
	for b in $benches; do
		pkg=$(cd "$tree" && grep -rl "^func $b(" --include='*_test.go' . | xargs dirname)
		(cd "$tree" && go test -c -o "$out/$tag-$b.test" "$pkg")
		echo "$b $tree/$pkg" >> "$out/pkgs-$tag"
	done
}
build "$old" old; build "$new" new
: > "$out/old.txt"; : > "$out/new.txt"
for _ in $(seq "$rounds"); do
	for tag in old new; do
		while read -r b dir; do
			(cd "$dir" && "$out/$tag-$b.test" -test.run '^$' -test.bench "^$b\$" -test.benchmem -test.count 1) | grep '^Benchmark' >> "$out/$tag.txt"
		done < "$out/pkgs-$tag"
	done
done
go run golang.org/x/perf/cmd/benchstat@latest "$out/old.txt" "$out/new.txt" | tee "$out/benchstat.txt"
for i in 1 2 3; do
	for tag in old new; do
		(cd /tmp && "$out/bigfather-$tag" bench --workload small --records 1000000 --partitions 8 --kafka spawn) > "$out/bench-$tag-$i.txt" 2>&1
		echo "$tag $i: $(grep -E '^ +E2E +[0-9]' "$out/bench-$tag-$i.txt")"
	done
done | tee "$out/bench-summary.txt"
