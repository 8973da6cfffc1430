#!/bin/sh
# Set up, build and run the demo: two virtual hosts (alice, bob) joined by a
# 100 Mbps / 10 ms link, see platforms/two_hosts.xml and
# platforms/two_hosts_demo.xml.  Prints what each program wrote.
set -eu
cd "$(dirname "$0")"
./scripts/setup-deps.sh
[ -f build/build.ninja ] || meson setup build > /dev/null
ninja -C build > /dev/null
out=simterpose.data
echo "\$ build/simterpose --out $out --stats $out.json platforms/two_hosts.xml platforms/two_hosts_demo.xml"
build/simterpose --out "$out" --stats "$out.json" platforms/two_hosts.xml platforms/two_hosts_demo.xml
for f in "$out"/hosts/*/*.stdout; do
  printf '\n--- %s\n' "$f"
  cat "$f"
done
printf '\nStatistics: %s.json\n' "$out"
