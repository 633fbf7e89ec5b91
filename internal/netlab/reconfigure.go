package netlab

// IP runs commands of `ip -batch` (one per line: "addr del 198.18.1.1/24
// dev lan0", "link set lan0 down") inside h's namespace, as DHCP, a user
// or a Wi-Fi reconnect would change a host's network under a running
// program. The lab's teardown undoes everything with the namespace.
func (h *Host) IP(batch string) error {
	if h.lab.isClosed() {
		return ErrClosed
	}
	return h.lab.ip(h.NS, batch)
}

// Sysctl writes net.* sysctls inside h's namespace: pairs of a path below
// /proc/sys/net and a value ("ipv6/conf/lan0/disable_ipv6", "1").
func (h *Host) Sysctl(kv ...string) error {
	if h.lab.isClosed() {
		return ErrClosed
	}
	return setSysctls(h.NS, kv...)
}
