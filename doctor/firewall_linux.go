package doctor

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
)

// firewallFindings reads the firewall of this network namespace: nftables
// (which also shows iptables-nft rules) when nft is installed, else
// iptables-save and ip6tables-save, and iptables-legacy-save's tables
// beside them.
func firewallFindings(ctx context.Context, p ports) []Finding {
	w := watched{{"udp", p.beacon}, {"udp", p.mdns}, {"tcp", p.coordinator}}
	var rules []blockRule
	var drops []policyDrop
	var read []string
	run := func(name string, args ...string) ([]byte, bool) {
		path := lookSbin(name)
		if path == "" {
			return nil, false
		}
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		defer cancel()
		out, err := exec.CommandContext(cctx, path, args...).Output()
		if err != nil {
			return nil, false
		}
		read = append(read, name)
		return out, true
	}
	if out, ok := run("nft", "list", "ruleset"); ok {
		r, d := parseNft(bytes.NewReader(out), w)
		rules, drops = append(rules, r...), append(drops, d...)
	} else {
		for _, tool := range []string{"iptables", "ip6tables"} {
			if out, ok := run(tool + "-save"); ok {
				r, d := parseIptablesSave(bytes.NewReader(out), tool, w)
				rules, drops = append(rules, r...), append(drops, d...)
			}
		}
	}
	for _, tool := range []string{"iptables", "ip6tables"} {
		if out, ok := run(tool + "-legacy-save"); ok {
			r, d := parseIptablesSave(bytes.NewReader(out), tool+"-legacy", w)
			rules, drops = append(rules, r...), append(drops, d...)
		}
	}
	if len(read) == 0 {
		return []Finding{{Check: "firewall", Status: Warn, Detail: "cannot read the firewall rules (no nft or iptables-save here, or not root)",
			Fix: "check by hand that nothing drops UDP 7601 and 5353 and TCP 7600"}}
	}
	return firewallVerdicts(rules, drops, read)
}

// lookSbin finds a command on PATH or in the sbin directories, which a
// user's PATH often lacks.
func lookSbin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	return ""
}
