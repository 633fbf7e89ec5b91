package mdns

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func aRR(name string, ip string, ttl uint32, flush bool) dns.RR {
	c := uint16(classIN)
	if flush {
		c = classFlush
	}
	return &dns.A{Hdr: hdr(name, dns.TypeA, c, ttl), A: net.ParseIP(ip)}
}

func TestCacheExpiryAndGoodbye(t *testing.T) {
	clk := newClock()
	c := newCache(100, noJitter)
	ptr := ptrRR(ServiceType, instanceName("a"), 10)
	if !c.add(clk.now(), ptr, 1, peer) {
		t.Fatal("new record not a change")
	}
	if c.add(clk.now(), ptr, 1, peer) {
		t.Error("TTL refresh counted as a change")
	}
	clk.advance(9 * time.Second)
	if len(c.get(clk.now(), ServiceType, dns.TypePTR)) != 1 || len(c.expire(clk.now())) != 0 {
		t.Fatal("expired early")
	}
	clk.advance(time.Second)
	if len(c.get(clk.now(), ServiceType, dns.TypePTR)) != 0 {
		t.Error("live after TTL")
	}
	if got := c.expire(clk.now()); len(got) != 1 || c.len() != 0 {
		t.Errorf("expire: %d, left %d", len(got), c.len())
	}
	// Goodbye: removed at once (the RFC's 1 s is not waited for).
	c.add(clk.now(), ptr, 1, peer)
	if !c.add(clk.now(), withTTL(ptr, 0), 1, peer) || c.len() != 0 {
		t.Error("goodbye did not remove")
	}
	if c.add(clk.now(), withTTL(ptr, 0), 1, peer) {
		t.Error("goodbye for an unknown record is a change")
	}
	// Names compare canonically: an upper-case goodbye removes it too.
	c.add(clk.now(), ptrRR(ServiceType, instanceName("Zoë's game"), 10), 1, peer)
	c.add(clk.now(), ptrRR("_LANLOBBY._TCP.LOCAL.", `ZO\195\139\'S\ GAME._lanlobby._tcp.local.`, 0), 1, peer) // Ë
	if c.len() != 1 {
		t.Error("ZOË is not Zoë: the UTF-8 letter does not fold")
	}
	c.add(clk.now(), ptrRR("_LANLOBBY._TCP.LOCAL.", `Zo\195\171\'S\ GAME._lanlobby._tcp.local.`, 0), 1, peer)
	if c.len() != 0 {
		t.Error("case-insensitive goodbye did not remove")
	}
}

func TestCacheFlush(t *testing.T) {
	clk := newClock()
	c := newCache(100, noJitter)
	inst := instanceName("a")
	c.add(clk.now(), txtRR(inst, []string{"p=1"}, 120), 1, peer)
	c.add(clk.now(), aRR("h.local.", "10.0.0.1", 120, true), 1, peer)
	clk.advance(2 * time.Second)
	// A new TXT is the newest at once, the old one stays for a second
	// (another host's conflicting record must not remove ours at once;
	// the browser uses the newest that makes a lobby).
	if !c.add(clk.now(), txtRR(inst, []string{"p=2"}, 120), 1, peer) {
		t.Error("TXT change not a change")
	}
	if got := c.newest(clk.now(), inst, dns.TypeTXT); got == nil || txtStrings(got.rr.(*dns.TXT))[0] != "p=2" {
		t.Errorf("newest TXT after flush: %v", got)
	}
	c2 := newCache(100, noJitter)
	c2.add(clk.now(), txtRR(inst, []string{"p=1"}, 120), 1, peer)
	clk2 := *clk
	clk2.advance(2 * time.Second)
	c2.add(clk2.now(), txtRR(inst, []string{"p=2"}, 120), 1, peer)
	clk2.advance(1100 * time.Millisecond)
	c2.expire(clk2.now())
	if got := c2.get(clk2.now(), inst, dns.TypeTXT); len(got) != 1 || txtStrings(got[0].rr.(*dns.TXT))[0] != "p=2" {
		t.Errorf("TXT a second after the flush: %d records", len(got))
	}
	// A new address flushes an older one after a second...
	c.add(clk.now(), aRR("h.local.", "10.0.0.2", 120, true), 1, peer)
	if len(c.get(clk.now(), "h.local.", dns.TypeA)) != 2 {
		t.Error("old address gone before its second")
	}
	// ...but one received within the last second stays (same RRset).
	c.add(clk.now(), aRR("h.local.", "10.0.0.3", 120, true), 1, peer)
	clk.advance(1100 * time.Millisecond)
	c.expire(clk.now())
	if got := c.get(clk.now(), "h.local.", dns.TypeA); len(got) != 2 {
		t.Errorf("%d addresses, want .2 and .3", len(got))
	}
	// Without the flush bit (shared records) nothing is replaced.
	c.add(clk.now(), ptrRR(ServiceType, instanceName("b"), 120), 1, peer)
	c.add(clk.now(), ptrRR(ServiceType, instanceName("c"), 120), 1, peer)
	if len(c.get(clk.now(), ServiceType, dns.TypePTR)) != 2 {
		t.Error("shared records replaced")
	}
}

func TestCacheRefreshAndKnownAnswers(t *testing.T) {
	clk := newClock()
	c := newCache(100, noJitter)
	start := clk.now()
	c.add(clk.now(), ptrRR(ServiceType, instanceName("a"), 100), 1, peer)
	var at []time.Duration
	for {
		next, ok := c.next()
		if !ok {
			break
		}
		clk.t = next
		if len(c.refreshDue(clk.now())) > 0 {
			at = append(at, clk.now().Sub(start))
		}
		if len(c.expire(clk.now())) > 0 {
			break
		}
	}
	want := []time.Duration{80 * time.Second, 85 * time.Second, 90 * time.Second, 95 * time.Second}
	if len(at) != 4 || at[0] != want[0] || at[3] != want[3] {
		t.Errorf("refreshes at %v, want %v", at, want)
	}
	clk.t = start
	c.add(clk.now(), ptrRR(ServiceType, instanceName("a"), 100), 1, peer)
	question := dns.Question{Name: ServiceType, Qtype: dns.TypePTR, Qclass: classIN}
	if ka := c.knownAnswers(clk.now().Add(49*time.Second), question); len(ka) != 1 || ka[0].Header().Ttl != 51 {
		t.Errorf("known answers at 49 s: %v", ka)
	}
	if ka := c.knownAnswers(clk.now().Add(50*time.Second), question); len(ka) != 0 {
		t.Errorf("known answers at half TTL: %v", ka)
	}
}

func TestCacheBound(t *testing.T) {
	clk := newClock()
	c := newCache(2, noJitter)
	for _, n := range []string{"a", "b", "c"} {
		c.add(clk.now(), ptrRR(ServiceType, instanceName(n), 100), 1, peer)
	}
	if c.len() != 2 || c.full != 1 {
		t.Errorf("len %d full %d", c.len(), c.full)
	}
}
