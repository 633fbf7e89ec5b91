package netlab

// Attack tools: a host that forges the source of what it sends, and a
// host that counts what reaches it. Both are raw IPv4 sockets opened in a
// lab host's namespace, so nothing forged ever touches a real interface.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// Spoofer sends UDP datagrams over IPv4 with any source address and port
// from a lab host (a raw socket with IP_HDRINCL): what reaches the LAN is
// indistinguishable from a datagram sent by that source, as a hostile
// machine on a LAN would forge it. Its methods are safe for concurrent
// use.
type Spoofer struct {
	mu   sync.Mutex // guards conn's writes and sent
	conn *ipv4.RawConn
	sent int // IP bytes sent
}

// Spoofer opens a forging socket in h. Close it when done (the lab's
// teardown closes it too).
func (h *Host) Spoofer() (*Spoofer, error) {
	var s *Spoofer
	err := h.Do(func() error {
		// Protocol 255 (IPPROTO_RAW) only sends: the socket never queues
		// copies of received datagrams.
		pc, err := net.ListenPacket("ip4:255", "0.0.0.0")
		if err != nil {
			return fmt.Errorf("netlab: raw socket in %s: %w", h.Name, err)
		}
		rc, err := ipv4.NewRawConn(pc)
		if err != nil {
			pc.Close()
			return err
		}
		s = &Spoofer{conn: rc}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.lab.onClose(s.Close)
	return s, nil
}

// SendUDP sends payload from src to dst (both IPv4) with IP TTL ttl, and
// returns the datagram's size on the wire above the link layer: IP header,
// UDP header and payload. The UDP checksum is left out (0), which IPv4
// receivers accept.
func (s *Spoofer) SendUDP(src, dst netip.AddrPort, ttl int, payload []byte) (int, error) {
	if !src.Addr().Is4() || !dst.Addr().Is4() {
		return 0, errors.New("netlab: Spoofer sends IPv4 only")
	}
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	h := &ipv4.Header{
		Version: ipv4.Version, Len: ipv4.HeaderLen, TotalLen: ipv4.HeaderLen + len(udp),
		TTL: ttl, Protocol: 17, Src: src.Addr().AsSlice(), Dst: dst.Addr().AsSlice(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.conn.WriteTo(h, udp, nil); err != nil {
		return 0, err
	}
	s.sent += h.TotalLen
	return h.TotalLen, nil
}

// Sent returns the IP bytes sent so far.
func (s *Spoofer) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Close closes the socket; it is idempotent.
func (s *Spoofer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// UDPCounter counts the IPv4 UDP datagrams a lab host receives that match
// a filter, whatever their destination port (open or not): a raw socket
// sees every UDP datagram delivered to the host. Bytes are IP datagram
// sizes (IP header, UDP header, payload).
type UDPCounter struct {
	conn    *net.IPConn
	match   func(src, dst netip.Addr, dstPort uint16) bool
	packets atomic.Int64
	bytes   atomic.Int64
	done    chan struct{}
}

// CountUDP starts counting in h the UDP datagrams for which match (of
// the source and destination addresses and the destination port) holds.
// The host also joins groups on its LAN interface, so that multicast to
// them is delivered and counted. Close stops it (the lab's teardown does
// too).
func (h *Host) CountUDP(match func(src, dst netip.Addr, dstPort uint16) bool, groups ...netip.Addr) (*UDPCounter, error) {
	c := &UDPCounter{match: match, done: make(chan struct{})}
	err := h.Do(func() error {
		conn, err := net.ListenIP("ip4:udp", &net.IPAddr{IP: net.IPv4zero})
		if err != nil {
			return fmt.Errorf("netlab: raw UDP socket in %s: %w", h.Name, err)
		}
		p := ipv4.NewPacketConn(conn)
		if err := p.SetControlMessage(ipv4.FlagDst, true); err != nil {
			conn.Close()
			return err
		}
		ifi, err := net.InterfaceByName(h.Iface)
		if err != nil {
			conn.Close()
			return err
		}
		for _, g := range groups {
			if err := p.JoinGroup(ifi, &net.UDPAddr{IP: g.AsSlice()}); err != nil {
				conn.Close()
				return fmt.Errorf("netlab: join %v in %s: %w", g, h.Name, err)
			}
		}
		c.conn = conn
		go c.read(p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.lab.onClose(c.Close)
	return c, nil
}

func (c *UDPCounter) read(p *ipv4.PacketConn) {
	defer close(c.done)
	buf := make([]byte, 65536)
	for {
		n, cm, src, err := p.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		ia, ok := src.(*net.IPAddr)
		if !ok || cm == nil || n < 8 {
			continue
		}
		s, _ := netip.AddrFromSlice(ia.IP)
		d, _ := netip.AddrFromSlice(cm.Dst)
		if c.match(s.Unmap(), d.Unmap(), binary.BigEndian.Uint16(buf[2:4])) {
			c.packets.Add(1)
			c.bytes.Add(int64(ipv4.HeaderLen + n))
		}
	}
}

// Packets and Bytes return what was counted so far.
func (c *UDPCounter) Packets() int64 { return c.packets.Load() }

// Bytes returns the IP bytes counted so far.
func (c *UDPCounter) Bytes() int64 { return c.bytes.Load() }

// Close stops counting and waits for the reader; it is idempotent.
func (c *UDPCounter) Close() error {
	err := c.conn.Close()
	<-c.done
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// onClose registers fn with the lab's teardown.
func (l *Lab) onClose(fn func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, fn)
}
