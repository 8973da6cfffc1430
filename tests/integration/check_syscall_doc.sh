#!/bin/sh
# docs/syscalls.md must hold exactly what `simterpose --list-syscalls` says.
# Regenerate with: tools/gen-syscall-doc.sh build/simterpose > docs/syscalls.md
set -eu
sim=$1 doc=$2
here=$(dirname "$0")
"$here/../../tools/gen-syscall-doc.sh" "$sim" | diff -u "$doc" - || {
  echo "FAIL: $doc is stale; regenerate it with tools/gen-syscall-doc.sh"; exit 1; }
echo "ok: $doc matches the table"
