#!/bin/sh
# Proves the README's test line needs nothing but Node 20 on a fresh Debian 12:
# runs it as root in a brand-new bookworm root filesystem (debootstrap,
# minbase: not even python3, make or a compiler) with this machine's Node
# copied in, and prints the runner's count, "N passed, N failed", last.
#
#   sudo sh scripts/fresh-machine-check.sh [DIR] [BRANCH]
#
# DIR (default $SWITCHBACK_FRESH_DIR, else /var/tmp/switchback-fresh) holds a
# cached debootstrap tarball and the root filesystem, rebuilt from that
# tarball on every run, so each run starts clean. Keep it outside the
# repository. BRANCH (default: the branch checked out here) is cloned from
# this repository, so what runs is what is committed, not the work tree.
#
# What is copied in, and why:
#   - Node: the binary, its npm and the headers it ships (PREFIX/include/node),
#     as Node's own packages and tarballs install them; under /usr/local.
#   - /etc/resolv.conf, for the Debian mirror and the npm registry.
#   - The CA file NODE_EXTRA_CA_CERTS names, when set here (a TLS-inspecting
#     proxy): npm in the chroot must trust what this machine trusts.
# Mounts (proc, sys, /dev, /dev/pts, a private /run) are undone on exit, and
# any process left inside the chroot is killed, by pid, first.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${SWITCHBACK_FRESH_DIR:-/var/tmp/switchback-fresh}}
branch=${2:-$(git -C "$repo" rev-parse --abbrev-ref HEAD)}
suite=bookworm
mirror=http://deb.debian.org/debian
base="$dir/$suite-minbase.tar"
root="$dir/root"
log="$dir/fresh-machine-check.log"

[ "$(id -u)" -eq 0 ] || { echo "fresh-machine-check: run as root (it uses debootstrap, chroot and mounts)" >&2; exit 2; }
case "$dir/" in
  "$repo"/*) echo "fresh-machine-check: DIR must be outside the repository" >&2; exit 2 ;;
esac
mkdir -p "$dir"

# 1. A pristine bookworm root, from the cached tarball (made once).
if [ ! -f "$base" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  rm -rf "$dir/bootstrap"
  echo "+ debootstrap --variant=minbase $suite $dir/bootstrap $mirror"
  debootstrap --variant=minbase "$suite" "$dir/bootstrap" "$mirror" >"$dir/debootstrap.log" 2>&1 ||
    { tail -20 "$dir/debootstrap.log" >&2; exit 1; }
  tar -C "$dir/bootstrap" -cf "$base.part" . && mv "$base.part" "$base"
  rm -rf "$dir/bootstrap"
fi

mounted=""
cleanup() {
  # Processes still inside (a stray test child): SIGKILL each, by pid.
  for link in /proc/[0-9]*/root; do
    if [ "$(readlink "$link" 2>/dev/null)" = "$root" ]; then
      pid=${link#/proc/}
      kill -KILL "${pid%/root}" 2>/dev/null || true
    fi
  done
  if [ -n "$mounted" ]; then umount -R "$root" 2>/dev/null || umount -lR "$root" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -d "$root" ]; then
  # A run killed before its cleanup: undo its mounts before deleting anything.
  umount -R "$root" 2>/dev/null || true
  if grep -q " $root[/ ]" /proc/mounts; then
    echo "fresh-machine-check: $root still has mounts; not deleting it" >&2
    exit 1
  fi
  rm -rf "$root"
fi
mkdir -p "$root"
tar -C "$root" -xf "$base"

# 2. This machine's Node, under /usr/local as its tarball would install it.
node_bin=$(readlink -f "$(command -v node)")
prefix=$(dirname "$(dirname "$node_bin")")
mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules" "$root/usr/local/include"
cp "$node_bin" "$root/usr/local/bin/node"
cp -a "$prefix/lib/node_modules/npm" "$root/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
if [ -d "$prefix/include/node" ]; then cp -a "$prefix/include/node" "$root/usr/local/include/node"; fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
extra_ca=""
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  cp "$NODE_EXTRA_CA_CERTS" "$root/etc/node-extra-ca.pem"
  extra_ca="NODE_EXTRA_CA_CERTS=/etc/node-extra-ca.pem"
fi

# 3. The branch, as a clone of what is committed.
git clone -q --branch "$branch" "$repo" "$root/root/switchback"
commit=$(git -C "$root/root/switchback" rev-parse --short HEAD)

# 4. The root is a mount point of its own, private, as on a machine (`ip netns`
#    remounts / rslave, which fails on a plain directory); then proc, sys,
#    devices (TAP, ptys, /dev/shm for Chromium) and a private /run. Every
#    mount sits under $root, so one `umount -R $root` undoes them all.
mount --bind "$root" "$root" && mounted=yes
mount --make-private "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
mount -t tmpfs tmpfs "$root/run"

# 5. The README's test line, exactly, as root, in a login-like environment.
line=$(sed -n 's/^\(sh scripts\/setup-deps\.sh &&.*npm test\) *#.*$/\1/p' "$repo/README.md")
[ -n "$line" ] || { echo "fresh-machine-check: no test line in README.md" >&2; exit 1; }
echo "+ chroot $root: cd /root/switchback ($branch $commit) && $line   (log: $log)"
set +e
# shellcheck disable=SC2086 # $extra_ca is one VAR=value word or nothing
chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin $extra_ca \
  /bin/sh -c "cd /root/switchback && $line" >"$log" 2>&1
status=$?
set -e
tail -40 "$log"
summary=$(chroot "$root" /usr/bin/env -i /usr/local/bin/node \
  /root/switchback/scripts/test-summary.mjs /root/switchback/reports/vitest.json) || true
echo "fresh-machine-check: $suite minbase, Node $("$root/usr/local/bin/node" --version), $branch $commit, exit $status"
echo "$summary"
exit "$status"
