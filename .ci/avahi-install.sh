#!/usr/bin/env bash
# Installs avahi-daemon, avahi-utils and dbus for the netlab avahi tests
# (internal/netlab: Host.StartAvahi), without ever letting an avahi-daemon run
# in the machine's own (root) network namespace, where it would multicast on
# the real network. The tests start their own avahi-daemons, one per lab host,
# inside network namespaces.
#
# Idempotent: does nothing when the packages are already installed. Otherwise:
#   - a temporary /usr/sbin/policy-rc.d (exit 101) stops maintainer scripts from
#     starting services during the installation; an existing policy-rc.d is
#     put back afterwards, also when the installation fails;
#   - --no-install-recommends keeps libnss-mdns out, and /etc/nsswitch.conf is
#     restored byte for byte afterwards, so the machine resolves names as
#     before;
#   - avahi-daemon's systemd units are disabled and masked (offline when
#     systemd is not running), so it never starts at boot or by socket/D-Bus
#     activation;
#   - finally any avahi-daemon running in the root network namespace is killed,
#     with a warning.
# Must run as root on Debian (or a derivative with apt).
set -euo pipefail

say() { echo "avahi-install: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

pkgs=(avahi-daemon avahi-utils dbus)

installed() { # pkg
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# root_avahi_pids prints the avahi-daemons whose network namespace is this
# script's (the machine's own, when run from CI or a root shell).
root_avahi_pids() {
  local me p
  me=$(readlink /proc/$$/ns/net)
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null || true)" = avahi-daemon ] || continue
    [ "$(readlink "$p/ns/net" 2>/dev/null || true)" = "$me" ] && echo "${p#/proc/}"
  done
  return 0
}

missing=()
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  say "avahi-daemon, avahi-utils and dbus already installed: nothing to do"
  for p in $(root_avahi_pids); do
    say "WARNING: avahi-daemon pid $p runs in the root network namespace and multicasts on the real network"
  done
  exit 0
fi
command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"

tmp=$(mktemp -d)
policy=/usr/sbin/policy-rc.d
had_policy=no
had_nsswitch=no
restore() {
  local rc=$?
  if [ "$had_policy" = yes ]; then
    cp -p "$tmp/policy-rc.d" "$policy"
  else
    rm -f "$policy"
  fi
  if [ "$had_nsswitch" = yes ] && ! cmp -s "$tmp/nsswitch.conf" /etc/nsswitch.conf; then
    say "restoring /etc/nsswitch.conf (the installation changed it)"
    cp -p "$tmp/nsswitch.conf" /etc/nsswitch.conf
  fi
  rm -rf "$tmp"
  exit "$rc"
}
if [ -e "$policy" ]; then
  cp -p "$policy" "$tmp/policy-rc.d"
  had_policy=yes
fi
if [ -f /etc/nsswitch.conf ]; then
  cp -p /etc/nsswitch.conf "$tmp/nsswitch.conf"
  had_nsswitch=yes
fi
trap restore EXIT
trap 'exit 130' INT TERM HUP

printf '#!/bin/sh\n# avahi-install.sh: no service may start during installation\nexit 101\n' >"$policy"
chmod 755 "$policy"

export DEBIAN_FRONTEND=noninteractive
say "installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  avahi-daemon avahi-utils dbus

# Keep the machine's own avahi-daemon from ever starting (boot, socket or
# D-Bus activation); the tests run theirs directly, not through systemd. The
# package enables its units even where systemd is installed but not running
# (containers): edit the unit files offline there.
units=(avahi-daemon.socket avahi-daemon.service)
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl disable --now "${units[@]}" >/dev/null 2>&1 || say "warning: systemctl disable ${units[*]} failed"
  systemctl mask "${units[@]}" >/dev/null 2>&1 || say "warning: systemctl mask ${units[*]} failed"
elif command -v systemctl >/dev/null; then
  systemctl --root=/ disable "${units[@]}" >/dev/null 2>&1 || say "warning: systemctl --root=/ disable ${units[*]} failed"
  systemctl --root=/ mask "${units[@]}" >/dev/null 2>&1 || say "warning: systemctl --root=/ mask ${units[*]} failed"
fi

for p in $(root_avahi_pids); do
  say "WARNING: an avahi-daemon (pid $p) was started in the root network namespace: killing it"
  kill -TERM "$p" 2>/dev/null || true
done
for _ in $(seq 1 30); do
  [ -z "$(root_avahi_pids)" ] && break
  sleep 0.1
done
for p in $(root_avahi_pids); do
  kill -KILL "$p" 2>/dev/null || true
done
[ -z "$(root_avahi_pids)" ] || die "an avahi-daemon still runs in the root network namespace"

for c in avahi-daemon avahi-browse avahi-publish dbus-daemon; do
  command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || die "$c missing after installation"
done
getent passwd avahi >/dev/null || die "user avahi missing after installation"
say "installed: $(dpkg-query -W -f='${Package} ${Version}, ' "${pkgs[@]}" | sed 's/, $//')"
