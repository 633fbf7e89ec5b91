package netutil

import (
	"net"
	"testing"
)

// TestExplainInterfaces: every interface gets the reason the policy
// skipped it, the chosen ones agree with SelectAvailable, and named
// interfaces are explained too (including one that does not exist).
func TestExplainInterfaces(t *testing.T) {
	cands := []Candidate{
		cand(1, "lo", up|net.FlagLoopback, "127.0.0.1/8"),
		cand(2, "eth0", mcast, "192.168.1.10/24"),
		cand(3, "wlan0", mcast&^net.FlagUp, "192.168.2.10/24"),
		cand(4, "docker0", mcast, "172.17.0.1/16"),
		cand(5, "lan0", up, "198.18.0.1/24"), // multicast off
		cand(6, "tun0", up|net.FlagPointToPoint|net.FlagMulticast, "10.8.0.2/24"),
		cand(7, "eth1", mcast),
	}
	want := map[string]string{"lo": ReasonLoopback, "eth0": "", "wlan0": ReasonDown, "docker0": ReasonVirtual,
		"lan0": ReasonNoMulticast, "tun0": ReasonPointToPoint, "eth1": ReasonNoAddress}
	got := ExplainInterfaces(cands, IfaceOptions{})
	chosen := SelectAvailable(cands, IfaceOptions{})
	for _, ch := range got {
		name := ch.Candidate.Interface.Name
		if ch.Reason != want[name] || ch.Chosen != (want[name] == "") {
			t.Errorf("%s: chosen %v reason %q, want %q", name, ch.Chosen, ch.Reason, want[name])
		}
		if ch.Chosen != (len(chosen.Ifaces) == 1 && chosen.Ifaces[0].Name == name) {
			t.Errorf("%s: disagrees with SelectAvailable %v", name, chosen.Names())
		}
	}
	if ch := got[4]; !ch.Fixable || got[3].Fixable {
		t.Errorf("fixable: lan0 %v docker0 %v", ch.Fixable, got[3].Fixable)
	}

	named := ExplainInterfaces(cands, IfaceOptions{Names: []string{"lan0", "docker0", "nope"}})
	reasons := map[string]string{}
	for _, ch := range named {
		reasons[ch.Candidate.Interface.Name] = ch.Reason
		if ch.Chosen != (ch.Candidate.Interface.Name == "docker0") {
			t.Errorf("named %s chosen %v", ch.Candidate.Interface.Name, ch.Chosen)
		}
	}
	if reasons["lan0"] != ReasonNoMulticast || reasons["eth0"] != ReasonNotNamed || reasons["nope"] != ReasonUnknownByName {
		t.Errorf("named reasons %v", reasons)
	}
}
