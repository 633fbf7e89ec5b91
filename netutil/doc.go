// Package netutil is lanlobby's one socket floor: it chooses the network
// interfaces, opens the UDP sockets the beacon and mDNS run on, and tells
// them when the network changes.
//
// Interface choice is a pure function (SelectInterfaces, SelectAvailable)
// over a snapshot of the machine's interfaces, so the filter is
// table-tested without a real machine; Interfaces and LookupInterfaces
// take the snapshot and apply it.
//
// Socket is one UDP socket of one family with what multicast protocols
// need: port sharing with other processes, the TTL of what is sent (1 for
// the beacon, 255 for mDNS), the outgoing interface and source address of
// each send, group membership per interface, and the arrival interface,
// destination and TTL of every datagram received. Receiver reads any
// number of sockets into one bounded queue (bounded in datagrams and in
// bytes; what does not fit is dropped and counted, never blocking a
// reader). MulticastConn, the beacon's conn, is a Socket per family and
// a Receiver: it sends on every chosen interface separately, with TTL /
// hop limit 1 so nothing leaves the link. mDNS builds its own set of
// Sockets (a shared one per family, one bound per interface, an
// ephemeral one) on the same floor.
//
// The network may change under a running process: Wi-Fi comes back, DHCP
// gives a new address, a VPN or a USB adapter appears. Watcher signals
// such changes (netlink on Linux, debounced; polling elsewhere and as a
// safety net), Tracker turns its signals into what changed (DiffIfaces)
// and keeps the status a component reports, and MulticastConn.SetIfaces
// joins and leaves the groups to match.
package netutil
