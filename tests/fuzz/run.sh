#!/bin/sh
# `make fuzz`: runs each libFuzzer target of BUILD/fuzz for SECONDS seconds, one after the
# other, on its corpus: BUILD/corpus/NAME (new finds go there), the checked-in
# tests/fuzz/corpus/NAME and the generated BUILD/seeds/NAME. Crashes, leaks and timeouts
# land in BUILD/artifacts/ as NAME-crash-..., NAME-leak-..., NAME-timeout-...; replay one
# with `build/tests/fuzz_NAME FILE` (or the libFuzzer binary). Prints a summary line per
# target and exits 1 if any target failed. FUZZ_ARGS adds libFuzzer options.
set -u
build=$1
seconds=$2
shift 2
mkdir -p "$build/artifacts"
failed=""
summary=""
for name in "$@"; do
    bin="$build/fuzz/fuzz_$name"
    mkdir -p "$build/corpus/$name" "$build/seeds/$name"
    dict=""
    [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    log="$build/fuzz-$name.log"
    echo "fuzz: $name for $seconds s (log $log)"
    # shellcheck disable=SC2086 # dict and FUZZ_ARGS are option lists
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" $dict ${FUZZ_ARGS:-} \
        "$build/corpus/$name" "tests/fuzz/corpus/$name" "$build/seeds/$name" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | sed 's/ft: //')
    line=$(printf '%-6s %4ss  %12s execs  %8s exec/s  cov %6s  ft %6s  %s' "$name" "$seconds" \
        "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$([ $rc -eq 0 ] && echo ok || echo FAILED)")
    echo "$line"
    summary="$summary$line
"
    if [ $rc -ne 0 ]; then
        failed="$failed $name"
        grep -E 'ERROR|property failed|SUMMARY|Test unit written' "$log" | head -n 20
    fi
done
printf '\nfuzz summary:\n%s' "$summary"
[ -z "$failed" ] || { echo "fuzz: failing:$failed"; exit 1; }
