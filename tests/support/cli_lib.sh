# Shared helpers of the shell tests in tests/cli/ (sourced, not run).
# Before sourcing: MK (the medkern binary) and tmp (a scratch folder) are set.
# The test ends with `cli_finish NAME`, which prints the counts and exits 0/1.
checks=0
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}
# run ARGS...: runs medkern; exit code in $rc, stdout in $tmp/out, stderr in $tmp/err
run() {
    "$MK" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
# expect WANT_RC ARGS...
expect() {
    local want=$1
    shift
    run "$@"
    checks=$((checks + 1))
    if [ "$rc" != "$want" ]; then
        fail "medkern $* -> exit $rc, want $want; stderr: $(head -c 400 "$tmp/err")"
        return 1
    fi
    return 0
}
# has FILE PATTERN WHAT: an extended regex must match a line of FILE
has() {
    checks=$((checks + 1))
    grep -Eq -- "$2" "$1" || fail "$3: no line matching /$2/ in: $(head -c 1500 "$1")"
}
hasnt() {
    checks=$((checks + 1))
    ! grep -Eq -- "$2" "$1" || fail "$3: unexpected line matching /$2/"
}
