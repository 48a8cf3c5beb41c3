#!/bin/sh
# Installs, or names, the Debian packages Switchback's build and tests need.
# Plain POSIX sh, so it runs on a fresh clone before `npm ci` (the README's
# demo and test lines run it first):
#
#   sh scripts/setup-deps.sh          # build + tests (what `npm test` needs)
#   sh scripts/setup-deps.sh build    # build only (what `npm ci` and the demo need)
#
# As root on Debian/Ubuntu: installs whatever is missing (apt-get update, then
# apt-get install -y --no-install-recommends); nothing to do, no network.
# Otherwise: prints one line naming what is missing and how to install it,
# and exits 1 only when the build cannot proceed (python3, make, gcc, g++ for
# node-gyp and the TAP addon). Missing test tools alone exit 0: the tests
# that need them fail with one line naming their package, the others run.
set -eu

# node-gyp runs python3 and make; the addon (native/tap.c) compiles with gcc
# and links with g++.
BUILD="python3 make gcc g++"
# e2e: namespaces and veth (iproute2), ping, nftables, iperf3 across the
# overlay; Chromium drives the inspector page, whose text is DejaVu;
# nats-server is the relay cluster's backplane (the cluster tests start it).
TESTS="iproute2 iputils-ping nftables iperf3 chromium fonts-dejavu-core nats-server"

case "${1:-test}" in
  build) WANT="$BUILD" ;;
  test) WANT="$BUILD $TESTS" ;;
  *)
    echo "usage: sh scripts/setup-deps.sh [build|test]" >&2
    exit 2
    ;;
esac

# The command each package provides, for machines without dpkg.
command_of() {
  case "$1" in
    iproute2) echo ip ;;
    iputils-ping) echo ping ;;
    nftables) echo nft ;;
    fonts-dejavu-core) echo "" ;;
    nats-server) echo nats-server ;;
    *) echo "$1" ;;
  esac
}

installed() {
  if command -v dpkg-query >/dev/null 2>&1; then
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
  else
    cmd=$(command_of "$1")
    [ -z "$cmd" ] || command -v "$cmd" >/dev/null 2>&1
  fi
}

missing=""
for pkg in $WANT; do
  installed "$pkg" || missing="$missing $pkg"
done
missing=${missing# }
[ -z "$missing" ] && exit 0

build_missing=""
for pkg in $missing; do
  case " $BUILD " in *" $pkg "*) build_missing="$build_missing $pkg" ;; esac
done

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup-deps: installing $missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  exit 0
fi

if command -v apt-get >/dev/null 2>&1; then
  how="sudo sh scripts/setup-deps.sh${1:+ $1}, or: sudo apt-get install $missing"
else
  how="install them with your system's package manager (these are Debian's names)"
fi
if [ -n "$build_missing" ]; then
  echo "setup-deps: cannot build without$build_missing; missing: $missing — $how" >&2
  exit 1
fi
echo "setup-deps: tests that need them will fail until installed; missing: $missing — $how" >&2
exit 0
