package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// Lab tests of `lanlobby doctor`: each injects a fault into a lab host
// and checks that the doctor names it; a healthy LAN reports no failure
// and sees traffic go both ways.

// doctorFindings runs the finished doctor p's JSON lines into findings,
// after it exits with want.
func doctorFindings(t *testing.T, h *netlab.Host, p *netlab.Process, want int) []map[string]any {
	t.Helper()
	code, err := p.Wait(60 * time.Second)
	if err != nil || (want >= 0 && code != want) {
		t.Fatalf("doctor on %s: exit %d (want %d) %v\n%s", h.Name, code, want, err, strings.Join(p.Lines(), "\n"))
	}
	var out []map[string]any
	for _, line := range p.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["check"] != nil {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		t.Fatalf("doctor on %s printed no finding:\n%s", h.Name, strings.Join(p.Lines(), "\n"))
	}
	return out
}

// finding returns the first finding whose check starts with check and
// whose detail contains every one of words, or nil.
func finding(fs []map[string]any, check, status string, words ...string) map[string]any {
	for _, f := range fs {
		c, _ := f["check"].(string)
		d, _ := f["detail"].(string)
		if !strings.HasPrefix(c, check) || (status != "" && f["status"] != status) {
			continue
		}
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(d, w)
		}
		if ok {
			return f
		}
	}
	return nil
}

func dump(fs []map[string]any) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%v %v: %v\n", f["status"], f["check"], f["detail"])
	}
	return b.String()
}

// TestLabDoctorHealthyBothWays: two doctors and a lanlobby host on one
// LAN. The doctor reports no failure, and multicast and unicast both ways
// with the other doctor and with the host. The other doctor's machine
// runs avahi, which it names as another mDNS responder sharing UDP 5353.
func TestLabDoctorHealthyBothWays(t *testing.T) {
	t.Parallel() // independent of the others: own lab, own ports
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	h2.StartAvahi(t)
	host := labRun(t, h3, "host", "--game", "demo", "--name", "Alice's game", "--players", "3", "--port", "7777")
	waitJSON(t, host, 10*time.Second, "created", nil)
	other := labRun(t, h2, "doctor", "--duration", "8s")
	d := labRun(t, h1, "doctor", "--duration", "4s")
	fs := doctorFindings(t, h1, d, 0)
	if f := finding(fs, "", "fail"); f != nil {
		t.Fatalf("healthy host reports a failure: %v\n%s", f, dump(fs))
	}
	for _, want := range []struct {
		h    *netlab.Host
		kind string
	}{{h2, "doctor"}, {h3, "lanlobby host"}} {
		if finding(fs, "peer "+want.h.IPv4.String(), "ok", want.kind, "multicast and unicast go both ways") == nil {
			t.Errorf("no both-ways finding for %s %s:\n%s", want.kind, want.h.Name, dump(fs))
		}
	}
	for _, check := range []string{"multicast loopback lan0 IPv4", "multicast loopback lan0 IPv6", "multicast group lan0", "firewall", "udp port 7601", "interface lan0"} {
		if finding(fs, check, "ok") == nil {
			t.Errorf("no ok %q:\n%s", check, dump(fs))
		}
	}
	if v := finding(fs, "verdict", "ok", "works"); v == nil {
		t.Errorf("verdict:\n%s", dump(fs))
	}
	fs2 := doctorFindings(t, h2, other, 0)
	if finding(fs2, "peer "+h1.IPv4.String(), "ok", "both ways") == nil {
		t.Errorf("h2's doctor did not see h1 both ways:\n%s", dump(fs2))
	}
	if finding(fs2, "mdns responder", "ok", "avahi-daemon (pid") == nil || finding(fs2, "udp port 5353", "ok", "shared with avahi-daemon") == nil {
		t.Errorf("h2's doctor does not name avahi on UDP 5353:\n%s", dump(fs2))
	}
}

// sbin finds an administration command that PATH may lack.
func sbin(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(dir + "/" + name); err == nil {
			return dir + "/" + name
		}
	}
	t.Fatalf("%s not found (iproute2, iptables: .ci/run installs them)", name)
	return ""
}

// TestLabDoctorNamesFaults injects one fault per lab host and runs the
// doctor on each at once: a firewall rule dropping UDP 7601 (h1), an
// interface without multicast (h2), the beacon port held exclusively by
// another program (h3), and bridge port isolation between h4 and h5,
// which only h6 (not isolated) hears both of; and a LAN key mismatch: h7
// hosts a lobby signed with one key, h8's doctor has another, h4's none.
func TestLabDoctorNamesFaults(t *testing.T) {
	t.Parallel() // independent of the others: own lab, own ports
	lab := netlab.New(t, netlab.Options{Hosts: 8})
	h := lab.Hosts
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := func(host *netlab.Host, name string, args ...string) {
		t.Helper()
		if out, err := host.Command(ctx, name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %s %v: %v\n%s", host.Name, name, args, err, out)
		}
	}
	run(h[0], sbin(t, "iptables"), "-A", "INPUT", "-p", "udp", "--dport", "7601", "-j", "DROP")
	if err := h[1].IP("link set lan0 multicast off"); err != nil {
		t.Fatal(err)
	}
	var held *net.UDPConn
	if err := h[2].Do(func() (err error) {
		// net.ListenUDP binds without SO_REUSEADDR: the port is held
		// exclusively, as by a program that does not share it.
		held, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 7601})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	sw := exec.CommandContext(ctx, sbin(t, "ip"), "netns", "exec", lab.SwitchNS, sbin(t, "bridge"), "link", "set", "dev", "h4", "isolated", "on")
	if out, err := sw.CombinedOutput(); err != nil {
		t.Fatalf("isolate h4: %v %s", err, out)
	}
	sw = exec.CommandContext(ctx, sbin(t, "ip"), "netns", "exec", lab.SwitchNS, sbin(t, "bridge"), "link", "set", "dev", "h5", "isolated", "on")
	if out, err := sw.CombinedOutput(); err != nil {
		t.Fatalf("isolate h5: %v %s", err, out)
	}

	keyed := labRun(t, h[6], "host", "--game", "demo", "--name", "keyed", "--players", "2", "--port", "1", "--lan-key", "alpha")
	waitJSON(t, keyed, 30*time.Second, "created", nil)
	gateway := labRun(t, h[5], "doctor", "--duration", "10s")
	otherKey := labRun(t, h[7], "doctor", "--duration", "4s", "--lan-key", "beta")
	ds := make([]*netlab.Process, 5)
	for i := range ds {
		ds[i] = labRun(t, h[i], "doctor", "--duration", "4s")
	}
	fs := make([][]map[string]any, 5)
	for i := range ds {
		fs[i] = doctorFindings(t, h[i], ds[i], exitFailure)
	}

	if finding(fs[0], "firewall", "fail", "UDP port 7601", "DROP") == nil || finding(fs[0], "multicast loopback lan0 IPv4", "fail") == nil {
		t.Errorf("h1 (firewall drops UDP 7601):\n%s", dump(fs[0]))
	}
	if finding(fs[1], "interface lan0", "fail", "multicast is switched off") == nil {
		t.Errorf("h2 (multicast off):\n%s", dump(fs[1]))
	}
	if f := finding(fs[1], "interface lan0", ""); f == nil || !strings.Contains(f["fix"].(string), "multicast on") {
		t.Errorf("h2: no fix for multicast off:\n%s", dump(fs[1]))
	}
	if finding(fs[2], "udp port 7601", "fail", "held exclusively", fmt.Sprintf("pid %d", os.Getpid())) == nil {
		t.Errorf("h3 (port held by pid %d):\n%s", os.Getpid(), dump(fs[2]))
	}
	for _, pair := range [][2]int{{3, 4}, {4, 3}} {
		me, other := pair[0], pair[1]
		if finding(fs[me], "peer "+h[other].IPv4.String(), "fail", "heard by", "not by us", "the network keeps the two machines apart") == nil {
			t.Errorf("%s does not name the isolation from %s:\n%s", h[me].Name, h[other].Name, dump(fs[me]))
		}
		if finding(fs[me], "peer "+h[5].IPv4.String(), "ok", "both ways") == nil {
			t.Errorf("%s does not reach the gateway h6 both ways:\n%s", h[me].Name, dump(fs[me]))
		}
	}
	if finding(fs[3], "lan key", "warn", h[6].IPv4.String(), "sign their beacons") == nil ||
		finding(fs[3], "peer "+h[6].IPv4.String(), "warn", "LAN key we lack") == nil {
		t.Errorf("h4 (no key) does not see h7's signed beacons:\n%s", dump(fs[3]))
	}
	ok := doctorFindings(t, h[7], otherKey, exitFailure)
	if finding(ok, "lan key", "fail", "beacons from "+h[6].IPv4.String(), "signed with another key") == nil {
		t.Errorf("h8 (key beta) does not name h7's key alpha:\n%s", dump(ok))
	}
	// The gateway hears h3's doctor, which cannot listen: it may fail.
	doctorFindings(t, h[5], gateway, -1)
}
