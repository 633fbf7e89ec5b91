package lobby

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The name registry's UDP text listener (PROTOCOL.md, "Name registry over
// UDP"): one datagram each way,
//
//	REGISTER room://host:port name   →  OK
//	DEREGISTER name                  →  OK
//	LOOKUP name                      →  OK room://host:port
//
// or NOTOK and a message. It is off unless a coordinator is given an
// address for it (lanlobby coordinator --registry-udp ADDR).
const (
	// MaxRegistryDatagram bounds a text request in bytes: a verb, a room
	// address and a name fit many times over. Longer ones get NOTOK.
	MaxRegistryDatagram = 512
	// registryRate and registryBurst are each source address's request
	// budget; requests over it are dropped unanswered, so a forged source
	// cannot turn the listener against a victim.
	registryRate  = 20
	registryBurst = 40
	// registryReplyRate bounds the replies of the whole listener per
	// second, whatever the sources.
	registryReplyRate = 2000
	// maxRegistrySources bounds the sources tracked for rate limiting.
	maxRegistrySources = 4096
)

// ServeRegistryUDP answers name registry requests in text datagrams on pc
// until ctx ends or the server closes; it closes pc. Names registered this
// way belong to their source address and expire NameTTL after their last
// REGISTER unless registered again.
func (s *Server) ServeRegistryUDP(ctx context.Context, pc net.PacketConn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-s.closing:
		}
		pc.Close()
	}()
	defer wg.Wait()
	lim := newSourceLimiter(s.cfg.now)
	buf := make([]byte, MaxRegistryDatagram+1)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		src, ok := netip.AddrFromSlice(udpIP(from))
		if !ok || !lim.allow(src.Unmap()) {
			continue
		}
		reply := s.registryText(src.Unmap(), buf[:n])
		pc.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		pc.WriteTo(reply, from)
	}
}

func udpIP(a net.Addr) net.IP {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.IP
	}
	return nil
}

// registryText answers one text request from src.
func (s *Server) registryText(src netip.Addr, req []byte) []byte {
	if len(req) > MaxRegistryDatagram {
		return notOK("request over %d bytes", MaxRegistryDatagram)
	}
	req = bytes.TrimRight(req, "\r\n")
	if !utf8.Valid(req) {
		return notOK("request is not UTF-8")
	}
	verb, rest, _ := strings.Cut(string(req), " ")
	owner := nameOwner{udp: src}
	var err error
	switch strings.ToUpper(verb) {
	case "REGISTER":
		addr, name, ok := strings.Cut(rest, " ")
		if !ok {
			return notOK("usage: REGISTER room://host:port name")
		}
		err = s.names.register(owner, name, addr)
	case "DEREGISTER":
		err = s.names.deregister(owner, rest)
	case "LOOKUP":
		addr, lerr := s.names.lookup(rest)
		if lerr == nil {
			return []byte("OK " + addr)
		}
		err = lerr
	case "":
		return notOK("empty request; verbs: REGISTER, DEREGISTER, LOOKUP")
	default:
		return notOK("unknown verb; verbs: REGISTER, DEREGISTER, LOOKUP")
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return notOK("%s: %s", e.Code, e.Message)
		}
		return notOK("%v", err)
	}
	return []byte("OK")
}

// notOK is an error reply, cut to fit one datagram.
func notOK(format string, args ...any) []byte {
	msg := errorf(CodeBadRequest, format, args...).Message
	msg = strings.ReplaceAll(msg, "\n", " ")
	if len(msg) > MaxRegistryDatagram-len("NOTOK ") {
		msg = msg[:MaxRegistryDatagram-len("NOTOK ")]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	return []byte("NOTOK " + msg)
}

// sourceLimiter is a token bucket per source address, bounded in sources,
// under a bucket for the whole listener.
type sourceLimiter struct {
	now     func() time.Time
	total   tokenBucket
	sources map[netip.Addr]*tokenBucket
}

func newSourceLimiter(now func() time.Time) *sourceLimiter {
	return &sourceLimiter{now: now, total: newTokenBucket(registryReplyRate, registryReplyRate),
		sources: make(map[netip.Addr]*tokenBucket)}
}

func (l *sourceLimiter) allow(src netip.Addr) bool {
	now := l.now()
	b := l.sources[src]
	if b == nil {
		if len(l.sources) >= maxRegistrySources {
			clear(l.sources) // a flood of sources: start over, still under total
		}
		nb := newTokenBucket(registryRate, registryBurst)
		b = &nb
		l.sources[src] = b
	}
	return b.take(now) && l.total.take(now)
}
