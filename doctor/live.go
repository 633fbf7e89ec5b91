package doctor

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
)

// The live part of the doctor: for Options.Duration it sends probes and
// beacon queries by multicast and unicast and listens, with three
// sockets:
//
//   - the listener binds the beacon port (shared) and joins the groups, as
//     every lanlobby browser does: it hears beacons, other doctors'
//     multicast probes and our own (the loopback copy: "we hear our own
//     beacon on a second socket"), on the interface each came in on;
//   - mc, on an ephemeral port, sends our multicast probes and beacon
//     queries: answers to it prove our multicast reached the answerer and
//     its unicast reached us;
//   - uc, on another ephemeral port, sends unicast probes and queries:
//     answers to it prove unicast goes both ways.

// queryAt are the offsets of the multicast beacon queries, as a browser
// sends them; after the last one, one a second.
var queryAt = []time.Duration{0, 250 * time.Millisecond, time.Second}

// readQueue bounds received packets waiting for the loop; more are
// dropped (a hostile LAN cannot grow the doctor's memory).
const readQueue = 256

// maxPeers bounds the doctors, the hosts and the reported doctors a run
// keeps track of (and so the unicast probes sent each round): a LAN party
// has tens of machines, a hostile sender cannot make us probe hundreds.
const maxPeers = 64

type received struct {
	data []byte
	src  netip.AddrPort
	ifi  int
	sock int // sockListen, sockMC, sockUC
}

const (
	sockListen = iota
	sockMC
	sockUC
)

// liveResult is what listening found.
type liveResult struct {
	findings []Finding
	peers    []Peer
}

// session is one run of the live part; owned by listen's goroutine.
type session struct {
	cfg    lanlobby.Config
	opts   Options
	p      ports
	key    beacon.Key
	ifaces []netutil.Iface
	own    map[netip.Addr]bool // this machine's addresses
	id     uint64
	seq    uint32
	bseq   uint32
	conns  [3]*netutil.MulticastConn

	selfHeard map[selfKey]bool // our multicast probe came back on that interface and family
	groups    []Finding        // group membership, checked while joined
	doctors   map[uint64]*Peer
	hosts     map[netip.Addr]*Peer
	third     map[uint64]thirdParty // doctors known from others' reports only
	sigFail   map[netip.Addr]map[string]int
	signed    map[netip.Addr]int
	verified  int
	sendErrs  map[string]int
}

// selfKey is an interface and an address family.
type selfKey struct {
	ifi int
	v4  bool
}

// thirdParty is a doctor another doctor reported hearing.
type thirdParty struct {
	addr     netip.AddrPort
	reporter string
}

func listen(ctx context.Context, cfg lanlobby.Config, opts Options, p ports, ifaces []netutil.Iface) (liveResult, error) {
	s := &session{cfg: cfg, opts: opts, p: p, ifaces: ifaces, own: map[netip.Addr]bool{},
		selfHeard: map[selfKey]bool{}, doctors: map[uint64]*Peer{}, hosts: map[netip.Addr]*Peer{}, third: map[uint64]thirdParty{},
		sigFail: map[netip.Addr]map[string]int{}, signed: map[netip.Addr]int{}, sendErrs: map[string]int{}}
	var res liveResult
	var b [8]byte
	rand.Read(b[:])
	s.id = binary.BigEndian.Uint64(b[:])
	s.seq = uint32(s.id)
	for _, i := range ifaces {
		for _, a := range i.Addrs() {
			s.own[a] = true
		}
	}
	k, err := lanlobby.LANKey(cfg) // derived once per process, shared with the library
	if err != nil {
		return res, err
	}
	s.key = k
	g4 := netip.AddrPortFrom(netip.MustParseAddr(beacon.DefaultGroupIPv4), p.beacon)
	g6 := netip.AddrPortFrom(netip.MustParseAddr(beacon.DefaultGroupIPv6), p.beacon)
	mk := func(join bool) (*netutil.MulticastConn, error) {
		return netutil.ListenMulticast(netutil.MulticastConfig{Group4: g4, Group6: g6, Join: join, Ifaces: ifaces, Logger: cfg.Logger})
	}
	s.conns[sockListen], err = mk(true)
	if err != nil {
		if !errors.Is(err, syscall.EADDRINUSE) {
			return res, err
		}
		// The port finding says who holds it; without a listener only
		// the answers to our queries can be heard.
		res.findings = append(res.findings, Finding{Check: "multicast loopback", Status: Fail,
			Detail: fmt.Sprintf("cannot listen on UDP %d, so neither our own multicast nor other hosts' beacons can be heard here: %v", p.beacon, err),
			Fix:    "free the port (see the udp port finding)"})
	}
	for _, k := range []int{sockMC, sockUC} {
		if s.conns[k], err = mk(false); err != nil {
			s.closeAll()
			return res, err
		}
	}
	pkts := make(chan received, readQueue)
	var wg sync.WaitGroup
	if s.conns[sockListen] != nil {
		s.groups = groupFindings(ifaces, g4.Addr())
	}
	for k, c := range s.conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				n, src, ifi, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				select {
				case pkts <- received{data: append([]byte(nil), buf[:n]...), src: src, ifi: ifi, sock: k}:
				default: // the loop is behind: drop, as a browser does
				}
			}
		}()
	}
	s.run(ctx, pkts)
	s.closeAll()
	wg.Wait()
	close(pkts)
	for r := range pkts {
		s.handle(r)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.findings = append(res.findings, s.findings()...)
	res.peers = s.peerList()
	return res, nil
}

func (s *session) closeAll() {
	for _, c := range s.conns {
		if c != nil {
			c.Close()
		}
	}
}

// run sends and listens until the duration is over.
func (s *session) run(ctx context.Context, pkts <-chan received) {
	start := time.Now()
	end := start.Add(s.opts.Duration)
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	nextQuery, queries := start, 0
	for {
		now := time.Now()
		s.probe()
		if !now.Before(nextQuery) {
			s.query()
			queries++
			if queries < len(queryAt) {
				nextQuery = start.Add(queryAt[queries])
			} else {
				nextQuery = now.Add(time.Second)
			}
		}
		if !now.Before(end) {
			return
		}
		for waiting := true; waiting; {
			select {
			case r := <-pkts:
				s.handle(r)
			case <-tick.C:
				waiting = false
			case <-ctx.Done():
				return
			}
		}
	}
}

// probe sends our probe by multicast, and by unicast to every doctor
// known (heard, reported by another, or named in Options.Peers).
func (s *session) probe() {
	s.seq++
	heard := make([]Heard, 0, len(s.doctors))
	for id, d := range s.doctors {
		var how uint8
		if d.InMulticast {
			how |= HeardMulticast
		}
		if d.InUnicast {
			how |= HeardUnicast
		}
		heard = append(heard, Heard{ID: id, How: how, Addr: d.probeAddr})
	}
	pr := Probe{Via: ViaMulticast, ID: s.id, Seq: s.seq, Name: s.opts.Name, Heard: heard}
	s.send(sockMC, EncodeProbe(pr), netip.AddrPort{})
	pr.Via = ViaUnicast
	uni := EncodeProbe(pr)
	for _, d := range s.doctors {
		if d.probeAddr.IsValid() {
			s.send(sockUC, uni, d.probeAddr)
		}
	}
	for id, tp := range s.third {
		if s.doctors[id] == nil {
			s.send(sockUC, uni, tp.addr)
		}
	}
	for _, a := range s.opts.Peers {
		s.send(sockUC, uni, netip.AddrPortFrom(a, s.p.beacon))
	}
}

// query sends a beacon query by multicast, and by unicast to every
// lanlobby host heard (and every named peer), signed with the LAN key
// when there is one (keyed hosts answer only signed queries). A host's
// unicast query goes where its answers came from, as a browser's
// follow-up does: the beacon port is shared by every lanlobby socket on
// the host's machine (its coordinator's watch of the LAN too), and a
// unicast datagram to it reaches only one of them. Until a host answered,
// it goes to the beacon port.
func (s *session) query() {
	s.bseq++
	b, err := beacon.Encode(&beacon.Packet{Kind: beacon.KindQuery, Seq: s.bseq})
	if err != nil {
		return
	}
	if !s.key.IsZero() {
		if b, err = s.key.SignPacket(b, time.Now()); err != nil {
			return
		}
	}
	s.send(sockMC, b, netip.AddrPort{})
	for a, h := range s.hosts {
		switch {
		case h.self:
		case h.answerAddr.IsValid():
			s.send(sockUC, b, h.answerAddr)
		default:
			s.send(sockUC, b, netip.AddrPortFrom(a, s.p.beacon))
		}
	}
	for _, a := range s.opts.Peers {
		s.send(sockUC, b, netip.AddrPortFrom(a, s.p.beacon))
	}
}

func (s *session) send(sock int, b []byte, dst netip.AddrPort) {
	c := s.conns[sock]
	var err error
	if dst.IsValid() {
		err = c.SendTo(b, dst)
	} else {
		err = c.SendMulticast(b)
	}
	if err != nil {
		s.sendErrs[err.Error()]++
	}
}

// handle takes in one received packet.
func (s *session) handle(r received) {
	if pr, err := DecodeProbe(r.data); err == nil {
		s.handleProbe(r, pr)
		return
	} else if !errors.Is(err, ErrNotProbe) {
		return
	}
	pkt, err := beacon.Decode(r.data)
	if err != nil {
		return
	}
	src := r.src.Addr().Unmap().WithZone("")
	if !s.key.IsZero() {
		if _, err := s.key.VerifyPacket(r.data, time.Now(), beacon.DefaultReplayWindow); err != nil {
			if s.sigFail[src] == nil && len(s.sigFail) < maxPeers {
				s.sigFail[src] = map[string]int{}
			}
			if m := s.sigFail[src]; m != nil {
				m[sigKind(err)]++
			}
		} else {
			s.verified++
		}
	} else if isSigned(r.data) && (s.signed[src] > 0 || len(s.signed) < maxPeers) {
		s.signed[src]++
	}
	if pkt.Kind == beacon.KindQuery {
		return // another browser (or our own query's loopback copy)
	}
	h := s.hosts[src]
	if h == nil {
		if len(s.hosts) >= maxPeers {
			return
		}
		h = &Peer{Addr: src, Kind: "lanlobby host", self: s.own[src], lobbies: map[string]bool{}}
		s.hosts[src] = h
	}
	for _, l := range pkt.Lobbies {
		h.lobbies[l.ID] = true
	}
	if pkt.Coordinator != nil {
		h.Kind = "coordinator daemon"
	}
	if pkt.Flags&beacon.FlagReply != 0 && r.sock != sockListen {
		h.answerAddr = r.src
	}
	switch {
	case pkt.Flags&beacon.FlagReply == 0:
		h.InMulticast = true
	case r.sock == sockMC:
		h.OutMulticast, h.InUnicast = true, true
	case r.sock == sockUC:
		h.OutUnicast, h.InUnicast = true, true
	}
}

func (s *session) handleProbe(r received, pr Probe) {
	if pr.ID == s.id {
		if r.sock == sockListen && pr.Via == ViaMulticast {
			s.selfHeard[selfKey{r.ifi, r.src.Addr().Unmap().Is4()}] = true
		}
		return
	}
	d := s.doctors[pr.ID]
	if d == nil {
		if len(s.doctors) >= maxPeers {
			return
		}
		d = &Peer{Kind: "doctor", id: pr.ID}
		s.doctors[pr.ID] = d
	}
	d.Name = pr.Name
	src := r.src.Addr().Unmap()
	if !d.Addr.IsValid() || (src.Is4() && !d.Addr.Is4()) {
		d.Addr = src.WithZone("")
		d.probeAddr = r.src
	}
	if pr.Via == ViaMulticast {
		d.InMulticast = true
	} else {
		d.InUnicast = true
	}
	for _, h := range pr.Heard {
		if h.ID == s.id {
			d.OutMulticast = d.OutMulticast || h.How&HeardMulticast != 0
			d.OutUnicast = d.OutUnicast || h.How&HeardUnicast != 0
			continue
		}
		// Only neighbours on our own links are worth a probe (and a
		// reported address elsewhere would make us send to strangers).
		if !h.Addr.IsValid() || !s.onLink(h.Addr.Addr()) {
			continue
		}
		// An IPv4 address, once reported, replaces an IPv6 one: it names
		// the machine the way people know it.
		if old, ok := s.third[h.ID]; (!ok && len(s.third) < maxPeers) || (ok && !old.addr.Addr().Is4() && h.Addr.Addr().Is4()) {
			s.third[h.ID] = thirdParty{addr: h.Addr, reporter: fmt.Sprintf("%s (%v)", pr.Name, d.Addr)}
		}
	}
}

// onLink reports whether a is a neighbour on one of our interfaces.
func (s *session) onLink(a netip.Addr) bool {
	for _, i := range s.ifaces {
		if i.OnLink(a) {
			return true
		}
	}
	return false
}

// sigKind names a signature failure.
func sigKind(err error) string {
	switch {
	case errors.Is(err, beacon.ErrUnsigned):
		return "unsigned"
	case errors.Is(err, beacon.ErrBadTimestamp):
		return "outside the replay window (clock off?)"
	}
	return "signed with another key"
}

// isSigned reports whether a beacon carries the signature TLVs as the
// last 28 bytes (PROTOCOL.md, "Signed beacons").
func isSigned(b []byte) bool {
	n := len(b)
	return n >= 14+beacon.SignedOverhead && b[n-beacon.MACSize-2] == 0x02 && b[n-beacon.MACSize-1] == beacon.MACSize &&
		b[n-beacon.SignedOverhead] == 0x01 && b[n-beacon.SignedOverhead+1] == 8
}

// peerList is every other machine heard, doctors first, then hosts (a
// host's IPv6 address folded into its IPv4 one when they announce the
// same lobbies).
func (s *session) peerList() []Peer {
	var out []Peer
	for _, d := range s.doctors {
		out = append(out, *d)
	}
	var v4 []*Peer
	for _, h := range s.hosts {
		if h.Addr.Is4() && !h.self {
			v4 = append(v4, h)
		}
	}
	for _, h := range s.hosts {
		if h.self || h.Addr.Is4() {
			continue
		}
		merged := false
		for _, o := range v4 {
			for id := range h.lobbies {
				if o.lobbies[id] {
					merged = true
				}
			}
		}
		if !merged {
			out = append(out, *h)
		}
	}
	for _, h := range v4 {
		out = append(out, *h)
	}
	for i := range out {
		out[i].Lobbies = len(out[i].lobbies)
		a := out[i].Addr
		out[i].keyed = s.signed[a] > 0 || s.sigFail[a] != nil
	}
	slices.SortFunc(out, func(a, b Peer) int { return a.Addr.Compare(b.Addr) })
	return out
}
