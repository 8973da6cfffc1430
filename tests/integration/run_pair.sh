#!/bin/sh
# Run a server and a client under Simterpose on two hosts of a platform;
# pass when both exit 0 (self-checking programs).  The client starts
# CLIENT_START simulated seconds in (default 0.1).
# usage: run_pair.sh SIMTERPOSE PLATFORM SERVER_HOST CLIENT_HOST PROGRAM SERVER_ARGS... -- CLIENT_ARGS...
set -u
sim=$1 platform=$2 shost=$3 chost=$4 prog=$5
shift 5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
xml_escape() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }
{
  echo "<?xml version='1.0'?>"
  echo '<platform version="4.1">'
  printf '  <actor host="%s" function="%s">\n' "$shost" "$(xml_escape "$prog")"
  while [ $# -gt 0 ] && [ "$1" != -- ]; do printf '    <argument value="%s"/>\n' "$(xml_escape "$1")"; shift; done
  echo '  </actor>'
  [ $# -gt 0 ] && shift
  printf '  <actor host="%s" function="%s" start_time="%s">\n' "$chost" "$(xml_escape "$prog")" "${CLIENT_START:-0.1}"
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
for f in "$tmp"/out/hosts/*/*.stdout; do echo "== $f"; cat "$f"; done
exit 0
