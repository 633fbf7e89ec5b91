package doctor

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// A firewall rule that drops or rejects a port lanlobby uses, found in
// `nft list ruleset` or `iptables-save` output. The parsers are pure and
// deliberately simple: they look for rules whose destination port
// matches (single ports, sets, lists and ranges) and whose verdict is drop
// or reject, plus chains whose policy drops. They do not evaluate the
// rule set (an earlier accept may win): a finding says "this rule drops
// the port", which is worth a look either way.

// blockRule is one rule that drops a port of ours.
type blockRule struct {
	Tool  string // "nft", "iptables", "ip6tables"
	Chain string // "input", "INPUT", ...
	Proto string // "udp", "tcp"
	Port  uint16
	Rule  string // the rule as printed
}

// policyDrop is a chain that drops what no rule accepts.
type policyDrop struct {
	Tool, Chain string
}

// watched are the (protocol, port) pairs the doctor looks for.
type watched []struct {
	proto string
	port  uint16
}

func (w watched) match(proto string, ports []portRange) []uint16 {
	var out []uint16
	for _, x := range w {
		if proto != "" && proto != x.proto {
			continue
		}
		for _, r := range ports {
			if x.port >= r.lo && x.port <= r.hi {
				out = append(out, x.port)
				break
			}
		}
	}
	return out
}

type portRange struct{ lo, hi uint16 }

// parsePorts reads "7601", "7000-8000", "7000:8000", "{ 5353, 7601 }",
// "5353,7601".
func parsePorts(s string) []portRange {
	s = strings.NewReplacer("{", " ", "}", " ", ",", " ").Replace(s)
	var out []portRange
	for _, f := range strings.Fields(s) {
		lo, hi, isRange := strings.Cut(f, "-")
		if !isRange {
			lo, hi, isRange = strings.Cut(f, ":")
		}
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
				continue
			}
		}
		out = append(out, portRange{uint16(a), uint16(b)})
	}
	return out
}

// parseNft reads `nft list ruleset`.
func parseNft(r io.Reader, w watched) ([]blockRule, []policyDrop) {
	var rules []blockRule
	var drops []policyDrop
	chain, table := "", ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "table":
			table = f[1] + " " + f[2]
		case len(f) >= 2 && f[0] == "chain":
			chain = f[1]
		case strings.HasPrefix(line, "type ") && strings.Contains(line, "policy drop"):
			drops = append(drops, policyDrop{Tool: "nft", Chain: table + " " + chain})
		case strings.Contains(line, "dport") && (hasWord(f, "drop") || hasWord(f, "reject")):
			i := indexWord(f, "dport")
			if i < 1 || i+1 >= len(f) || f[i+1] == "!=" {
				continue
			}
			proto := f[i-1]
			if proto == "th" {
				proto = ""
			} else if proto != "udp" && proto != "tcp" {
				continue
			}
			// The port expression runs to the closing brace of a set, or is one word.
			expr := f[i+1]
			if expr == "{" {
				end := indexWord(f[i+1:], "}")
				if end < 0 {
					continue
				}
				expr = strings.Join(f[i+1:i+2+end], " ")
			}
			for _, port := range w.match(proto, parsePorts(expr)) {
				p := proto
				if p == "" {
					p = protoOf(w, port)
				}
				rules = append(rules, blockRule{Tool: "nft", Chain: table + " " + chain, Proto: p, Port: port, Rule: line})
			}
		}
	}
	return rules, drops
}

// parseIptablesSave reads `iptables-save` (or ip6tables-save) output.
func parseIptablesSave(r io.Reader, tool string, w watched) ([]blockRule, []policyDrop) {
	var rules []blockRule
	var drops []policyDrop
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && strings.HasPrefix(line, ":") && f[1] == "DROP":
			drops = append(drops, policyDrop{Tool: tool, Chain: strings.TrimPrefix(f[0], ":")})
		case len(f) >= 2 && f[0] == "-A":
			verdict := ""
			if i := indexWord(f, "-j"); i >= 0 && i+1 < len(f) {
				verdict = f[i+1]
			}
			if verdict != "DROP" && verdict != "REJECT" {
				continue
			}
			proto := ""
			if i := indexWord(f, "-p"); i >= 0 && i+1 < len(f) && (i == 0 || f[i-1] != "!") {
				proto = f[i+1]
			}
			if proto != "udp" && proto != "tcp" {
				continue
			}
			var ports []portRange
			for _, opt := range []string{"--dport", "--dports", "--destination-port", "--destination-ports"} {
				if i := indexWord(f, opt); i >= 0 && i+1 < len(f) && f[i-1] != "!" {
					ports = append(ports, parsePorts(f[i+1])...)
				}
			}
			for _, port := range w.match(proto, ports) {
				rules = append(rules, blockRule{Tool: tool, Chain: f[1], Proto: proto, Port: port, Rule: line})
			}
		}
	}
	return rules, drops
}

func protoOf(w watched, port uint16) string {
	for _, x := range w {
		if x.port == port {
			return x.proto
		}
	}
	return ""
}

func hasWord(f []string, w string) bool { return indexWord(f, w) >= 0 }

func indexWord(f []string, w string) int {
	for i, x := range f {
		if x == w {
			return i
		}
	}
	return -1
}

// undo is the command that removes a rule, for the finding's fix.
func (b blockRule) undo() string {
	if b.Tool == "nft" {
		return fmt.Sprintf("remove the rule from %s (nft -a list chain %s; nft delete rule %s handle N)", b.Chain, b.Chain, b.Chain)
	}
	return b.Tool + " -D " + strings.TrimPrefix(b.Rule, "-A ")
}

// firewallVerdicts turns what the parsers found into findings.
func firewallVerdicts(rules []blockRule, drops []policyDrop, read []string) []Finding {
	var out []Finding
	for _, b := range rules {
		out = append(out, Finding{Check: "firewall", Status: Fail,
			Detail: fmt.Sprintf("a %s rule in %s drops %s port %d: %s", b.Tool, b.Chain, strings.ToUpper(b.Proto), b.Port, b.Rule),
			Fix:    b.undo()})
	}
	for _, d := range drops {
		if strings.Contains(strings.ToLower(d.Chain), "input") {
			out = append(out, Finding{Check: "firewall", Status: Warn,
				Detail: fmt.Sprintf("%s chain %s drops whatever no rule accepts", d.Tool, d.Chain),
				Fix:    "make sure it accepts UDP 7601 and 5353 and TCP 7600 (and the game's own port)"})
		}
	}
	if len(out) == 0 {
		out = append(out, Finding{Check: "firewall", Status: OK,
			Detail: fmt.Sprintf("no rule drops TCP 7600 or UDP 7601/5353 (%s read)", strings.Join(read, ", "))})
	}
	return out
}
