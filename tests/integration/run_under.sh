#!/bin/sh
# Run one program under Simterpose on a host of a platform; pass when the
# run exits 0 (i.e. the self-checking program did).  Prints its output on
# failure.
# usage: run_under.sh SIMTERPOSE PLATFORM HOST PROGRAM [ARGS...]
set -u
sim=$1 platform=$2 host=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
xml_escape() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }
{
  echo "<?xml version='1.0'?>"
  echo '<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">'
  echo '<platform version="4.1">'
  printf '  <actor host="%s" function="%s">\n' "$host" "$(xml_escape "$1")"
  shift
  for a in "$@"; do printf '    <argument value="%s"/>\n' "$(xml_escape "$a")"; done
  echo '  </actor>'
  echo '</platform>'
} > "$tmp/deploy.xml"
"$sim" ${SIMTERPOSE_ARGS:-} --out "$tmp/out" "$platform" "$tmp/deploy.xml" 2> "$tmp/sim.err"
rc=$?
if [ $rc -ne 0 ] || grep -q 'watchdog' "$tmp/sim.err"; then
  echo "simterpose exited $rc"; cat "$tmp/sim.err"
  for f in "$tmp"/out/hosts/*/*; do echo "== $f"; cat "$f"; done
  [ $rc -ne 0 ] && exit 1
  echo "FAIL: the watchdog fired"; exit 1
fi
cat "$tmp"/out/hosts/*/*.stdout
exit 0
