// Package netutil chooses the network interfaces lanlobby uses on a LAN and
// opens the multicast sockets the beacon (and later mDNS) run on.
//
// Interface choice is a pure function (SelectInterfaces) over a snapshot of
// the machine's interfaces, so the filter is table-tested without a real
// machine; Interfaces takes the snapshot and applies it.
//
// MulticastConn wraps one UDP socket per address family. It sends on every
// chosen interface separately, with TTL / hop limit 1 so nothing leaves the
// link, and reports which interface each received packet arrived on, so a
// receiver can pair a sender's source address with the interface that
// reaches it.
package netutil
