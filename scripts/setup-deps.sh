#!/bin/sh
# Install what Simterpose needs to build and test, from Debian 12's packages.
# Runs apt-get only for what is missing; uses sudo when not root.
set -eu
# build, then the real programs the tests and the demo run under Simterpose
pkgs="gcc libc6-dev meson ninja-build pkg-config libsimgrid-dev libseccomp-dev libcap-ng-dev
      libcriterion-dev libexpat1-dev python3 procps util-linux hostname
      iperf3 curl netcat-openbsd redis-server redis-tools memcached libmemcached-tools"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "Installing:$missing"
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
