#!/bin/sh
# Run the self-checking test programs on Debian 12's own kernel (6.1), on a
# CPU that faults rdtsc under PR_SET_TSC: two things this machine may not
# be (a newer kernel; a hypervisor that ignores CR4.TSD).
#
# Boots linux-image-amd64 (fetched with apt-get download, kept in
# $XDG_CACHE_HOME/simterpose-vm) under QEMU's software CPU (TCG, which
# honours CR4.TSD), from an initramfs holding busybox, Simterpose and the
# programs; runs tsc_check natively, then every program under both
# backends (under ptrace the TSC faults and is emulated there).  No root.
#
# Usage: tools/vm-check.sh [BUILDDIR]      (default: build)
# Needs: qemu-system-x86 and busybox-static (apt); about 2 minutes.
# VM_CHECK_RUNS="prog args..." (one per line) replaces the list of runs.
# Prints the guest's output; exits 0 only if every run passed.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
for f in "$build/simterpose" "$build/tests/programs/tsc_check"; do
  [ -x "$f" ] || { echo "vm-check: $f is missing: build first" >&2; exit 2; }
done
command -v qemu-system-x86_64 > /dev/null || { echo "vm-check: needs qemu-system-x86 (apt)" >&2; exit 2; }
busybox=/bin/busybox
ldd "$busybox" 2>&1 | grep -q "not a dynamic" || { echo "vm-check: needs busybox-static (apt)" >&2; exit 2; }

cache=${XDG_CACHE_HOME:-$HOME/.cache}/simterpose-vm
mkdir -p "$cache"
kernel=$(ls "$cache"/k/boot/vmlinuz-* 2> /dev/null | sort -V | tail -1 || true)
if [ -z "$kernel" ]; then
  pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[^ ]*\)/\1/p' | head -1)
  (cd "$cache" && apt-get download "$pkg" > /dev/null && dpkg -x "$pkg"_*.deb k && rm -f "$pkg"_*.deb)
  kernel=$(ls "$cache"/k/boot/vmlinuz-* | sort -V | tail -1)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root/bin" "$root/sim/out" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc"
: > "$root/etc/hosts" # Simterpose mounts each host's over it
cp "$busybox" "$root/bin/busybox"
# name and arguments of each program run under Simterpose (as in tests/meson.build)
if [ -n "${VM_CHECK_RUNS:-}" ]; then printf '%s\n' "$VM_CHECK_RUNS" > "$root/sim/runs"; else cat > "$root/sim/runs"; fi << 'EOF'
tsc_check virtual tsc-faults
clock_check virtual
clock_check_static virtual
clock_busywait virtual
clock_busywait_static virtual
fork_exec_wait virtual
thread_wake virtual
threads_check virtual
random_check virtual
eventfd_timerfd virtual
pipe_check virtual
unix_check virtual
signal_check virtual
net_errors virtual
net_tcp_echo --mode epoll --clients 3 both virtual
busybox.sh
EOF
# Issue 4's pipeline and a virtual hour, with busybox (a static binary).
cat > "$root/sim/busybox.sh" << 'EOF'
#!/bin/sh
out=$(seq 100000 | sort -r | head -3 | tr '\n' ' ')
[ "$out" = "99999 99998 99997 " ] || { echo "seq | sort -r | head -3 printed: $out"; exit 1; }
t0=$(date +%s); sleep 3600; t1=$(date +%s)
[ $((t1 - t0)) = 3600 ] || { echo "sleep 3600 took $((t1 - t0)) s"; exit 1; }
echo "busybox.sh: all passed"
EOF
chmod +x "$root/sim/busybox.sh"
progs=$(cut -d' ' -f1 "$root/sim/runs" | grep -v '\.sh$' | sed "s|^|$build/tests/programs/|")
cp "$build/simterpose" $progs "$build/tests/programs/tsc_check" "$src/platforms/one_host.xml" "$root/sim/"
# The shared libraries they need, at the paths the loader looks for them.
ldd "$build/simterpose" $progs 2> /dev/null | awk '/=> \// { print $3 } /^\t\// { print $1 }' | sort -u |
while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cat > "$root/init" << 'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
echo "vm-check: kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo)"
cd /sim
./tsc_check > out/native 2>&1 && echo "vm-check: PASS native tsc_check" || { cat out/native; echo "vm-check: FAIL native tsc_check"; }
while read -r prog args; do
  for b in ptrace unotify; do
    { echo "<?xml version='1.0'?>"
      echo '<platform version="4.1"><actor host="alice" function="/sim/'$prog'">'
      for a in $args; do echo "<argument value=\"$a\"/>"; done
      echo '</actor></platform>'; } > deploy.xml
    SIMTERPOSE_BACKEND=$b ./simterpose --backend=$b --out out/$b.$prog one_host.xml deploy.xml 2> out/err &
    sim=$! waited=0
    while kill -0 $sim 2> /dev/null && [ $waited -lt 300 ]; do sleep 1; waited=$((waited + 1)); done
    if kill -0 $sim 2> /dev/null; then # hung: show where everyone is
      echo "vm-check: $b $prog still running after 300 s:"
      for t in /proc/[0-9]*/task/*; do
        [ -r $t/syscall ] && echo "$t $(cat $t/comm) $(cut -d' ' -f3 $t/stat) syscall $(cut -d' ' -f1 $t/syscall) wchan $(cat $t/wchan)"
      done
      kill -ABRT $sim; sleep 2
    fi
    if wait $sim && ! grep -q watchdog out/err; then
      echo "vm-check: PASS $b $prog"
      [ $prog = tsc_check ] && cat out/$b.$prog/hosts/alice/*.stdout
    else
      cat out/err out/$b.$prog/hosts/alice/*; echo "vm-check: FAIL $b $prog"
    fi
  done
done < runs
echo "vm-check: done"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | "$busybox" cpio -o -H newc 2> /dev/null) > "$tmp/initrd"
[ -s "$tmp/initrd" ] || { echo "vm-check: cannot make the initramfs" >&2; exit 1; }
qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 1 -nographic -no-reboot \
  -kernel "$kernel" -initrd "$tmp/initrd" -append "console=ttyS0 quiet panic=-1" < /dev/null | tee "$tmp/log"
runs=$(($(wc -l < "$root/sim/runs") * 2 + 1))
passed=$(grep -c '^vm-check: PASS' "$tmp/log" || true)
echo "vm-check: $passed of $runs runs passed"
grep -q '^vm-check: done' "$tmp/log" && [ "$passed" = "$runs" ]
