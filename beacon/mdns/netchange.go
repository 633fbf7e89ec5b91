package mdns

import (
	"slices"
	"time"

	"github.com/lanlobby/lanlobby/netutil"
)

// The network under a running responder changes: Wi-Fi comes back, DHCP
// gives a new address, an interface appears or goes (RFC 6762 §8.3,
// §10.2). What the core does:
//
//   - From no interface to some (the first network, or a host that lost
//     every interface and got one back, maybe on another network): every
//     name is probed again, then announced, as at start.
//   - An interface added beside others that stay, or one whose addresses
//     or link state changed: the records it now carries are announced on
//     it at once and again after 1 s, 2 s... (announceCount in all), with
//     the cache-flush bit, so browsers replace the old addresses; the
//     addresses it lost get goodbyes (TTL 0) there first. Names are not
//     probed again there: a conflict on that link is found and settled
//     by §9 when the other owner answers.
//   - An interface gone: nothing can be sent on it any more; its pending
//     answers and rate-limit memory are dropped. Browsers there see the
//     records expire, or ours go by their own liveness checks.

// reannouncement is where the announcements on one interface stand.
type reannouncement struct {
	sent int
	next time.Time
}

// setIfaces replaces the interfaces and returns what is to be sent at
// once (goodbyes for lost addresses, the first re-announcements).
func (c *core) setIfaces(now time.Time, ifaces []netutil.Iface) []outPacket {
	old := c.ifaces
	c.ifaces = slices.Clone(ifaces)
	if !c.running {
		return nil
	}
	changes := netutil.DiffIfaces(old, c.ifaces)
	for _, ch := range changes {
		if ch.Removed() {
			delete(c.pending, ch.Old.Index)
			delete(c.lastMcast, ch.Old.Index)
			delete(c.reannounce, ch.Old.Index)
		}
	}
	if len(c.ifaces) == 0 {
		return nil
	}
	if len(old) == 0 {
		c.host.startProbing(now.Add(c.cfg.jitter(probeInterval)))
		for _, s := range c.svcs {
			if !s.removed {
				s.owner.startProbing(now.Add(c.cfg.jitter(probeInterval)))
			}
		}
		return nil
	}
	var out []outPacket
	for _, ch := range changes {
		if ch.Removed() {
			continue
		}
		if lost := ch.Lost(); len(lost) > 0 && c.host.answering() {
			c.stats.Goodbyes++
			out = append(out, c.multicast(now, ch.New, addrRRs(c.hostName(), lost, 0), nil)...)
		}
		c.reannounce[ch.New.Index] = &reannouncement{next: now}
	}
	return append(out, c.reannounceDue(now)...)
}

// reannounceDue sends the due announcements on interfaces that appeared
// or changed: the host's addresses there and every answering service.
// While the host name is not ours (probing after a conflict) it waits:
// its own announcement goes everywhere then.
func (c *core) reannounceDue(now time.Time) []outPacket {
	if !c.host.answering() {
		return nil
	}
	var out []outPacket
	for idx, r := range c.reannounce {
		ifi, ok := c.iface(idx)
		if !ok {
			delete(c.reannounce, idx)
			continue
		}
		if now.Before(r.next) {
			continue
		}
		out = append(out, c.multicast(now, ifi, c.authoritative(ifi), nil)...)
		c.stats.Announcements++
		r.sent++
		r.next = now.Add(announceInterval << (r.sent - 1))
		if r.sent >= c.cfg.announceCount {
			delete(c.reannounce, idx)
		}
	}
	return out
}
