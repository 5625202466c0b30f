#!/bin/sh
# Runs every unit test program given as an argument, shows failures, and
# prints one closing line "unit: N passed, N failed". UNIT_RUNNER, if set, is a command that
# runs each program (`make test-valgrind` sets it to valgrind).
pass=0
fail=0
bad=""
for t in "$@"; do
    # shellcheck disable=SC2086 # UNIT_RUNNER is a command with its arguments
    out=$($UNIT_RUNNER "$t" 2>&1)
    rc=$?
    p=$(printf '%s\n' "$out" | grep -c '^ok ')
    f=$(printf '%s\n' "$out" | grep -c '^not ok ')
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed, or a sanitizer stopped it
    fi
    pass=$((pass + p))
    fail=$((fail + f))
    if [ $rc -ne 0 ]; then
        bad="$bad $(basename "$t")"
        printf '%s\n' "$out" | grep -v '^ok ' | tail -n 40
    fi
    printf '%-24s %4d ok %4d failed\n' "$(basename "$t")" "$p" "$f"
done
echo "unit: $pass passed, $fail failed"
[ $fail -eq 0 ] || { echo "failing:$bad"; exit 1; }
