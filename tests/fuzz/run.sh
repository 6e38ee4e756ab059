#!/usr/bin/env bash
# The C fuzzers, time-boxed (make fuzz-c): each target of $1 on each arch of $2 ("64 32") for
# FUZZ_SECONDS, from its seeds (build/fuzz/seeds), the kept fixtures (tests/fixtures/fuzz-c) and the
# corpus earlier runs grew (build/fuzz/corpus). An input that crashes, trips a sanitizer or a
# property, hangs past FUZZ_TIMEOUT seconds or takes 2 GiB is kept in
# tests/fixtures/fuzz-c/<target>/ (commit it with the fix: make test replays it). One line per run:
# executions, coverage (libFuzzer's cov: and ft:), corpus size; build/fuzz/report.tsv keeps them.
set -uo pipefail
cd "$(dirname "$0")/../.."
targets=$1 archs=$2 seconds=${FUZZ_SECONDS:-60} timeout=${FUZZ_TIMEOUT:-10}
declare -A max_len=([hparams]=4096 [config]=8192 [upload]=8192 [session]=4096 [safetensors]=65536 [folder]=65536)
mkdir -p build/fuzz/logs
report=build/fuzz/report.tsv
[ -f "$report" ] || printf 'date\tarch\ttarget\tseconds\texecs\tcov\tft\tcorpus\tfound\n' > "$report"
found_any=0
for arch in $archs; do
  for t in $targets; do
    corpus=build/fuzz/corpus/$arch-$t fixtures=tests/fixtures/fuzz-c/$t log=build/fuzz/logs/$arch-$t.log
    mkdir -p "$corpus" "$fixtures"
    before=$(ls "$fixtures" | wc -l)
    args=(-max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 -max_len="${max_len[$t]}" -print_final_stats=1
          -report_slow_units=100000 -artifact_prefix="$fixtures/$arch-")
    [ -f "build/fuzz/seeds/$t.dict" ] && args+=(-dict="build/fuzz/seeds/$t.dict")
    "build/fuzz/$arch/fuzz-$t" "${args[@]}" "$corpus" "build/fuzz/seeds/$t" "$fixtures" > "$log" 2>&1
    rc=$?
    found=$(( $(ls "$fixtures" | wc -l) - before ))
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last") ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
    corp=$(ls "$corpus" | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%F)" "$arch" "$t" "$seconds" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corp" "$found" >> "$report"
    printf 'fuzz-c %-2s %-12s %6s s  %9s execs  cov %-5s ft %-6s corpus %-5s found %s\n' "$arch" "$t" "$seconds" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corp" "$found"
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
      found_any=1
      echo "fuzz-c: $arch $t failed (exit $rc): $log" >&2
      grep -E 'ERROR|property failed|SUMMARY|Test unit written' "$log" | head -8 >&2
    fi
  done
done
exit $found_any
