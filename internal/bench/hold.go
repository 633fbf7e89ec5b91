package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// holdStats is what measure saw of the server process.
type holdStats struct {
	wall          time.Duration
	cpuPct, max1s float64 // the server's mean and busiest one-second sample
	genPct        float64 // this process
	rss, hwm      int64   // the server's, at the end
	pingsPerSec   float64 // pings the members answered
}

// measure keeps the connections up for d and measures the server process
// (g.coord) and this one meanwhile.
func (g *loadGen) measure(ctx context.Context, d time.Duration) (s holdStats, err error) {
	pid := g.coord.pid()
	cpu0, err := procCPU(pid)
	if err != nil {
		return s, err
	}
	self0, _ := procCPU(0)
	pings0 := g.pings.Load()
	start := time.Now()
	last, lastT := cpu0, start
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.NewTimer(d)
	defer end.Stop()
loop:
	for {
		select {
		case <-tick.C:
			now := time.Now()
			if c, err := procCPU(pid); err == nil {
				s.max1s = max(s.max1s, cpuPct(c-last, now.Sub(lastT)))
				last, lastT = c, now
			}
		case <-end.C:
			break loop
		case <-ctx.Done():
			return s, ctx.Err()
		case <-g.coord.exited:
			return s, g.coord.exitError()
		}
	}
	s.wall = time.Since(start)
	cpu1, err := procCPU(pid)
	if err != nil {
		return s, err
	}
	self1, _ := procCPU(0)
	if s.wall > 0 {
		s.pingsPerSec = float64(g.pings.Load()-pings0) / s.wall.Seconds()
	}
	s.cpuPct = cpuPct(cpu1-cpu0, s.wall)
	s.genPct = cpuPct(self1-self0, s.wall)
	s.rss, s.hwm, err = procRSS(pid)
	return s, err
}

// hold keeps the members connected for cfg.Hold and measures the
// coordinator meanwhile.
func (g *loadGen) hold(ctx context.Context, res *LoadResult) error {
	s, err := g.measure(ctx, g.cfg.Hold)
	if err != nil {
		return err
	}
	res.HoldSeconds = s.wall.Seconds()
	res.CPUPct, res.CPUPctMax1s, res.GeneratorCPUPct = s.cpuPct, s.max1s, s.genPct
	res.LoadedRSS, res.PeakRSS = s.rss, s.hwm
	res.RSSPerMember = float64(res.LoadedRSS-res.BaselineRSS) / float64(g.cfg.Members)
	res.PingsPerSec = s.pingsPerSec
	res.FalseDrops, _ = g.dropCounts()
	return nil
}

// checkList asks the coordinator for the load lobbies from a fresh
// connection, page after page (a reply holds one page; see PROTOCOL.md,
// list), and counts the full ones.
func (g *loadGen) checkList(ctx context.Context, res *LoadResult) error {
	c, err := g.dial(ctx)
	if err != nil {
		return fmt.Errorf("list: dial: %w", err)
	}
	defer c.c.Close()
	c.c.SetReadDeadline(time.Now().Add(setupTimeout))
	if _, err := io.WriteString(c.c, `{"op":"hello","id":1,"v":1,"player":"checker"}`+"\n"); err != nil {
		return err
	}
	if _, err := g.await(c, 1); err != nil {
		return fmt.Errorf("list: hello: %w", err)
	}
	after := ""
	for id := int64(2); ; id++ {
		req := fmt.Sprintf(`{"op":"list","id":%d,"game":"load","after":%q}`+"\n", id, after)
		if _, err := io.WriteString(c.c, req); err != nil {
			return err
		}
		line, err := g.await(c, id)
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		var reply struct {
			Lobbies []struct {
				Players  int    `json:"players"`
				Capacity int    `json:"capacity"`
				State    string `json:"state"`
			} `json:"lobbies"`
			Next string `json:"next"`
		}
		if err := json.Unmarshal(line, &reply); err != nil {
			return fmt.Errorf("list: %w", err)
		}
		res.ListLobbies += len(reply.Lobbies)
		for _, l := range reply.Lobbies {
			res.ListMembers += l.Players
			if l.Players == g.cfg.PerLobby && l.Capacity == g.cfg.PerLobby && l.State == "full" {
				res.ListFull++
			}
		}
		if reply.Next == "" || reply.Next == after || res.ListLobbies > 2*res.Lobbies {
			break
		}
		after = reply.Next
	}
	g.logf("list: %d lobbies, %d full, %d members", res.ListLobbies, res.ListFull, res.ListMembers)
	return nil
}
