package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby/coordhttp"
)

// watchMembers follows a coordinator's status stream (/events of package
// coordhttp) and prints every lobby's members with their round-trip time
// and state.
func watchMembers(c *cli.Context) error {
	base := c.String("http")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	base = strings.TrimRight(base, "/")
	req, err := http.NewRequestWithContext(c.Context, "GET", base+"/events", nil)
	if err != nil {
		return usageError(c, fmt.Sprintf("--http %q: %v", c.String("http"), err))
	}
	client := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: c.Duration("timeout")}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		if c.Context.Err() != nil {
			return nil
		}
		return &cliError{msg: fmt.Sprintf("cannot reach the coordinator's HTTP endpoint %s: %v", base, err), exit: exitFailure,
			hint: "is the coordinator running with --http there? (a daemon serves 127.0.0.1:7680 by default; a host only with host --http)"}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return &cliError{msg: fmt.Sprintf("%s/events answered %s, not a status stream", base, resp.Status), exit: exitFailure,
			hint: "--http must name a lanlobby coordinator's HTTP endpoint"}
	}
	out := newPrinter(c.App.Writer, c.Bool("json"))
	screen := !out.json && fancy(c.App.Writer)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var v coordhttp.View
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			continue
		}
		out.members(v, screen, c.String("game"))
	}
	if c.Context.Err() != nil {
		return nil
	}
	return &cliError{msg: "the coordinator's status stream ended (did it stop?)", exit: exitFailure}
}

// members prints one status update: every lobby with its members.
func (p *printer) members(v coordhttp.View, screen bool, game string) {
	var ls []coordhttp.LobbyView
	for _, l := range v.Lobbies {
		if game == "" || l.Game == strings.ToLower(game) {
			ls = append(ls, l)
		}
	}
	if p.json {
		for _, l := range ls {
			p.emit(struct {
				Event string `json:"event"`
				coordhttp.LobbyView
			}{"members", l}, "")
		}
		return
	}
	var b strings.Builder
	if screen {
		b.WriteString("\x1b[H\x1b[2J")
	}
	fmt.Fprintf(&b, "%s  %s, %s, %d away (Ctrl-C to stop)", v.Taken.Local().Format(time.TimeOnly),
		plural(len(ls), "lobby", "lobbies"), plural(v.Members, "member", "members"), v.Away)
	for _, l := range ls {
		fmt.Fprintf(&b, "\n\n%s  %s  %s  %d/%d  %s", l.ID, l.Name, l.Game, l.Players, l.Capacity, l.State)
		fmt.Fprintf(&b, "\n  %s  %s  %s  %s  %s", cell("PLAYER", 20), cell("ID", colID), cell("GAME ADDRESS", 24), cell("RTT", 9), "STATE")
		for _, m := range l.Members {
			rtt := "-"
			if m.RTTms > 0 {
				rtt = fmt.Sprintf("%.2fms", m.RTTms)
			}
			state := "here"
			if m.State == "away" {
				state = "away (" + strings.ReplaceAll(m.Reason, "_", " ") + ")"
			}
			name := m.Name
			if m.ID == l.Owner {
				name += " *"
			}
			fmt.Fprintf(&b, "\n  %s  %s  %s  %s  %s", cell(name, 20), cell(m.ID, colID), cell(m.Addr, 24), cell(rtt, 9), state)
		}
	}
	if v.More > 0 {
		fmt.Fprintf(&b, "\n\n(%d more lobbies not shown)", v.More)
	}
	if !screen {
		b.WriteString("\n")
	}
	p.emit(nil, b.String())
}
