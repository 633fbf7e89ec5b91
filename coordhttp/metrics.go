package coordhttp

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanlobby/lanlobby/lobby"
)

// scrapeTimeout bounds the wait for the state goroutine's counts in one
// scrape; past it the gauges that need it are left out of that scrape.
const scrapeTimeout = 2 * time.Second

// collector turns a coordinator's Metrics and Snapshot counts into
// Prometheus metrics at scrape time: nothing is kept twice, and the
// coordinator's hot paths only ever touch their own atomics.
type collector struct {
	srv *lobby.Server

	connections, members, away, lobbies              *prometheus.Desc
	accepted, creates, joins, quickJoins             *prometheus.Desc
	notices, slow, linksClosed, left, refused        *prometheus.Desc
	resumes, restores, restored, rtt, snapshotFailed *prometheus.Desc
	shed, lineBytes, lineEvictions, guesses          *prometheus.Desc
}

func newCollector(srv *lobby.Server) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("lanlobby_"+name, help, labels, nil)
	}
	return &collector{
		srv:            srv,
		connections:    d("connections", "Open TCP links to the coordinator, with or without hello."),
		members:        d("members", "Member identities (links that completed hello), away ones included."),
		away:           d("members_away", "Members whose link dropped and whose seat is kept for the resume grace."),
		lobbies:        d("lobbies", "Lobbies by state.", "state"),
		accepted:       d("connections_accepted_total", "Connections accepted."),
		creates:        d("lobbies_created_total", "Lobbies created."),
		joins:          d("joins_total", "Joins by lobby id that took a seat."),
		quickJoins:     d("quick_joins_total", "Quick-joins that took a seat."),
		notices:        d("notices_sent_total", "Notice frames sent to members (one per recipient)."),
		slow:           d("slow_consumers_total", "Members cut for not reading their notices."),
		linksClosed:    d("links_closed_total", "Links closed, by reason (the drops).", "reason"),
		left:           d("members_left_total", "Members that left a lobby, by reason.", "reason"),
		refused:        d("refused_total", "Connections and requests refused, by the limit that refused them.", "limit"),
		resumes:        d("resumes_total", "Members that took their seat back on a new link."),
		restores:       d("restores_total", "Restore requests from clients after a coordinator restart."),
		restored:       d("restored_total", "Lobbies or seats brought back by restore requests."),
		rtt:            d("heartbeat_rtt_seconds", "Heartbeat round-trip time of every link."),
		snapshotFailed: d("scrape_snapshot_failed", "1 when this scrape could not get the lobby counts in time."),
		shed:           d("connections_shed_total", "Idle connections without a lobby closed at the connection cap to admit a new one."),
		lineBytes:      d("partial_line_bytes", "Memory held by request lines still arriving, across all links."),
		lineEvictions:  d("partial_line_evictions_total", "Links closed to keep partial request lines under the coordinator's budget."),
		guesses:        d("credential_failures_total", "Resume tokens and restore credentials that did not match, by kind.", "kind"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connections, c.members, c.away, c.lobbies, c.accepted, c.creates, c.joins,
		c.quickJoins, c.notices, c.slow, c.linksClosed, c.left, c.refused, c.resumes, c.restores, c.restored, c.rtt, c.snapshotFailed,
		c.shed, c.lineBytes, c.lineEvictions, c.guesses} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	snap, err := c.srv.Snapshot(ctx, 0)
	if err == nil {
		gauge(c.connections, float64(snap.Connections))
		gauge(c.members, float64(snap.Members))
		gauge(c.away, float64(snap.Away))
		for _, st := range []lobby.State{lobby.StateOpen, lobby.StateFull, lobby.StateStarted} {
			gauge(c.lobbies, float64(snap.ByState[st]), string(st))
		}
		gauge(c.snapshotFailed, 0)
	} else {
		gauge(c.snapshotFailed, 1)
	}
	m := c.srv.Metrics()
	counter(c.accepted, m.Accepted)
	counter(c.creates, m.Creates)
	counter(c.joins, m.Joins)
	counter(c.quickJoins, m.QuickJoins)
	counter(c.notices, m.NoticesSent)
	counter(c.slow, m.SlowConsumers)
	for reason, n := range m.LinksClosed {
		counter(c.linksClosed, n, reason)
	}
	for reason, n := range m.Left {
		counter(c.left, n, string(reason))
	}
	for limit, n := range m.Refused {
		counter(c.refused, n, limit)
	}
	counter(c.resumes, m.Resumes)
	counter(c.restores, m.Restores)
	counter(c.restored, m.Restored)
	counter(c.shed, m.Shed)
	gauge(c.lineBytes, float64(m.LineBytes))
	counter(c.lineEvictions, m.LineEvictions)
	counter(c.guesses, m.TokenFailures, "token")
	counter(c.guesses, m.CredentialFailures, "credential")
	buckets := make(map[float64]uint64, len(lobby.RTTBuckets))
	var cum uint64
	for i, le := range lobby.RTTBuckets {
		cum += m.RTT.Counts[i]
		buckets[le.Seconds()] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.rtt, m.RTT.Count, m.RTT.Sum.Seconds(), buckets)
}
