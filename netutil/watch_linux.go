package netutil

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// netlinkRcvBuf is the receive buffer asked for the netlink socket: room
// for the burst of a VPN or a container runtime adding many addresses.
// When it overflows anyway the kernel reports ENOBUFS, which counts as a
// notification.
const netlinkRcvBuf = 256 << 10

// netlinkNotifier listens to the kernel's link and address notifications
// of the network namespace it was opened in.
type netlinkNotifier struct {
	f   *os.File
	log *slog.Logger
}

// openNotifier subscribes to RTMGRP_LINK, RTMGRP_IPV4_IFADDR and
// RTMGRP_IPV6_IFADDR on a non-blocking netlink socket, which the Go
// poller waits on, so close unblocks its reader.
func openNotifier(log *slog.Logger) (notifier, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netutil: netlink socket: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netutil: netlink bind: %w", err)
	}
	// Best effort: the default buffer works, it just overflows sooner.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, netlinkRcvBuf)
	return &netlinkNotifier{f: os.NewFile(uintptr(fd), "netlink-route"), log: log}, nil
}

func (n *netlinkNotifier) run(events chan<- struct{}) {
	buf := make([]byte, 32<<10)
	for {
		_, err := n.f.Read(buf)
		switch {
		case err == nil, errors.Is(err, unix.ENOBUFS):
			// Any link or address message, or lost ones: look again.
		case errors.Is(err, os.ErrClosed):
			return
		default:
			n.log.Warn("netutil: interface change notifications failed, polling", "err", err)
			return
		}
		select {
		case events <- struct{}{}:
		default:
		}
	}
}

func (n *netlinkNotifier) close() { n.f.Close() }
