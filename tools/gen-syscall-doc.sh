#!/bin/sh
# Print docs/syscalls.md from the syscall table (via --list-syscalls).
set -eu
sim=${1:-build/simterpose}
echo '# Trapped syscalls'
echo
echo 'Generated from `filters/syscall_table.h` by `tools/gen-syscall-doc.sh`; do not edit.'
echo 'Every syscall not listed here runs natively, at full speed, without the supervisor.'
echo
echo '| syscall | class | trapped when |'
echo '|---|---|---|'
"$sim" --list-syscalls | tail -n +2 | while read -r name cls when; do
  echo "| \`$name\` | $cls | $when |"
done
