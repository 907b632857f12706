#!/bin/sh
# Installs what heaptrace needs to build, test, demo and benchmark, from
# Debian's packages. The one place that installs anything. Idempotent and
# quiet when everything is already there.
set -e

PKGS="gcc g++ make libc6-dev pkg-config libunwind-dev libzstd-dev libdw-dev libelf-dev
libstdc++-12-dev zstd python3 sqlite3 libjemalloc2 libjemalloc-dev libgoogle-perftools4
redis-server redis-tools golang-go heaptrack hyperfine procps valgrind
clang libclang-rt-14-dev libc6-dbg
zlib1g-dev chromium graphviz libcurl4-openssl-dev prometheus"

missing=
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps: need root (or sudo) to install:$missing" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
