#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, leak detection)
# and runs each on a scratch copy of its seed corpus, so the committed
# corpus only changes when someone copies new inputs in on purpose.
# Usage: tests/fuzz/run-fuzzers.sh [SECONDS-PER-TARGET] (default 120)
# Findings (crash-*, leak-*, timeout-*) are left in the scratch dir,
# whose path is printed; the exit status is non-zero when any appeared.
set -euo pipefail
secs=${1:-120}
top=$(cd "$(dirname "$0")/../.." && pwd)
bld=${TMPDIR:-/tmp}/smimegw-fuzz-build-$(printf %s "$top" | md5sum | cut -c1-8)
work=$(mktemp -d "${TMPDIR:-/tmp}/smimegw-fuzz.XXXXXX")
cmake -S "$top" -B "$bld" -DSMIMEGW_FUZZ=ON -DCMAKE_C_COMPILER=clang \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
rc=0
for t in mime_parser mime_codec smime_open smime_der policy_file process smtp_server smtp_client; do
	cmake --build "$bld" -j"$(nproc)" --target "fuzz_$t" >/dev/null
	mkdir -p "$work/$t"
	cp "$top/tests/fuzz/corpus/$t/"* "$work/$t/"
	echo "== fuzz_$t for ${secs}s (scratch corpus $work/$t)"
	(cd "$work" && "$bld/tests/fuzz_$t" -max_total_time="$secs" \
		-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$t") 2>&1 |
		grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss)|ERROR|SUMMARY' || true
	for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		if [ -e "$f" ]; then
			echo "finding: $f" >&2
			rc=1
		fi
	done
done
echo "scratch: $work"
exit $rc
