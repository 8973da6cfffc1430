#!/bin/sh
# Set up, build and run every test of Simterpose:
#   1. the suite in a normal build (build/), under each backend (unotify, then
#      ptrace: meson test --setup ptrace),
#   2. the same under ASan+UBSan (build-asan/),
#   3. when run as root, both again as an unprivileged user, from a copy of
#      the sources that user owns (Simterpose must never need root).
# Usage: ./test.sh            (add --quick to run step 1, unotify only)
set -eu
cd "$(dirname "$0")"
./scripts/setup-deps.sh

step() { printf '\n=== %s\n' "$*"; }
passed=0 failed=0
count() { # testlog.json -> adds to passed/failed
  set -- $(python3 -c 'import json,sys
r=[json.loads(l)["result"] for l in open(sys.argv[1]) if l.strip()]
print(sum(x=="OK" for x in r), sum(x!="OK" and x!="SKIP" for x in r))' "$1")
  passed=$((passed + $1)); failed=$((failed + $2))
}
suite() { # builddir [meson setup options...]: the suite under each backend
  dir=$1; shift
  [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" > /dev/null
  ninja -C "$dir" > /dev/null
  rc=0
  meson test -C "$dir" --print-errorlogs || rc=$?
  count "$dir/meson-logs/testlog.json"
  [ $rc = 0 ] || return $rc
  [ "$quick" = 1 ] && return 0
  step "... again with --backend=ptrace ($dir/)"
  meson test -C "$dir" --setup ptrace --print-errorlogs || rc=$?
  count "$dir/meson-logs/testlog-ptrace.json"
  return $rc
}

report() { echo "$passed passed, $failed failed"; }
quick=0
[ "${1:-}" = --quick ] && quick=1
step "test suite (build/)"
suite build || { report; exit 1; }
[ $quick = 1 ] && { report; exit 0; }

step "test suite under ASan+UBSan (build-asan/)"
# Distinct exit codes: a sanitizer report must not pass for "a program failed".
export ASAN_OPTIONS=detect_leaks=1:exitcode=86 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=86
suite build-asan -Db_sanitize=address,undefined -Db_lundef=false || { report; exit 1; }
unset ASAN_OPTIONS UBSAN_OPTIONS

if [ "$(id -u)" = 0 ]; then
  user=simterpose-test
  id "$user" > /dev/null 2>&1 || useradd --system --create-home --shell /bin/sh "$user"
  copy=$(mktemp -d /tmp/simterpose-user.XXXXXX)
  trap 'rm -rf "$copy"' EXIT
  git ls-files -z 2> /dev/null | xargs -0 cp --parents -t "$copy" 2> /dev/null || cp -r . "$copy"
  rm -rf "$copy/build" "$copy/build-asan"
  chown -R "$user" "$copy"
  chmod 755 "$copy"
  step "test suite as the unprivileged user '$user'"
  rc=0
  runuser -u "$user" -- sh -c "cd '$copy' && meson setup build > /dev/null && ninja -C build > /dev/null && meson test -C build --print-errorlogs && meson test -C build --setup ptrace --print-errorlogs" || rc=$?
  count "$copy/build/meson-logs/testlog.json"
  [ -f "$copy/build/meson-logs/testlog-ptrace.json" ] && count "$copy/build/meson-logs/testlog-ptrace.json"
  [ $rc = 0 ] || { report; exit $rc; }
fi
step "all test suites passed"
report
