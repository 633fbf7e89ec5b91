#!/usr/bin/env bash
# Installs what netlab's fault injection (internal/netlab: Host.Impair) needs
# beyond iproute2: iptables and ip6tables, which put the NFQUEUE rules for
# delay and jitter into a lab's switch namespace. (Loss and cuts use only
# iproute2's tc, ip and bridge.) The package ships no daemon: installing it
# starts nothing and touches no rule of the machine's own namespace.
#
# Idempotent: does nothing when the commands are already there.
# Must run as root on Debian (or a derivative with apt).
set -euo pipefail

say() { echo "faults-install: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

have() { # command: on PATH or in an sbin directory (PATH may lack them)
  command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing=()
for c in iptables ip6tables iptables-restore ip6tables-restore; do
  have "$c" || missing+=("$c")
done
have tc || missing+=(tc)
if [ ${#missing[@]} -eq 0 ]; then
  say "iptables, ip6tables and tc already installed: nothing to do"
  exit 0
fi
command -v apt-get >/dev/null || die "apt-get not found: install iptables and iproute2 by hand (missing: ${missing[*]})"

pkgs=(iptables)
have tc || pkgs+=(iproute2)
export DEBIAN_FRONTEND=noninteractive
say "installing ${pkgs[*]} (missing: ${missing[*]})"
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${pkgs[@]}"

for c in iptables ip6tables iptables-restore ip6tables-restore tc; do
  have "$c" || die "$c missing after installation"
done
say "installed: $(dpkg-query -W -f='${Package} ${Version}, ' "${pkgs[@]}" | sed 's/, $//')"
