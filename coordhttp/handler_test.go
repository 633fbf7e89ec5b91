package coordhttp

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lanlobby/lanlobby/internal/testutil"
	"github.com/lanlobby/lanlobby/lobby"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// coord is a coordinator on 127.0.0.1:0 with its HTTP endpoint, for a test.
type coord struct {
	srv  *lobby.Server
	addr string // the coordinator's TCP address
	http *Server
	url  string // http://127.0.0.1:port
}

func startCoord(t *testing.T, scfg lobby.ServerConfig, hcfg Config) *coord {
	t.Helper()
	srv, err := lobby.NewServer(scfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	hs, err := Start(ctx, "127.0.0.1:0", NewHandler(srv, hcfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
	})
	return &coord{srv: srv, addr: ln.Addr().String(), http: hs, url: "http://" + hs.Addr().String()}
}

// get fetches a path with a client that keeps no idle connection.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func client(t *testing.T, addr, player string) *lobby.Client {
	t.Helper()
	c, err := lobby.Dial(context.Background(), addr, lobby.ClientConfig{Player: player})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// metricValue finds one sample in Prometheus text output: name with its
// labels exactly as printed ("lanlobby_lobbies{state=\"open\"}").
func metricValue(text, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// TestMetricsHealthReady: after a create, a join, a quick-join and a
// leave, /metrics shows them under lanlobby_ names in Prometheus text
// format, with a heartbeat RTT histogram; /healthz and /readyz answer 200.
func TestMetricsHealthReady(t *testing.T) {
	c := startCoord(t, lobby.ServerConfig{HeartbeatInterval: 50 * time.Millisecond, HeartbeatMisses: 20}, Config{})
	ctx := context.Background()
	owner := client(t, c.addr, "owner")
	j, err := owner.Create(ctx, lobby.CreateOptions{Game: "demo", Name: "one", Capacity: 4, JoinOptions: lobby.JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	a := client(t, c.addr, "a")
	if _, err := a.Join(ctx, j.Lobby.ID, lobby.JoinOptions{Port: 2}); err != nil {
		t.Fatal(err)
	}
	b := client(t, c.addr, "b")
	if _, err := b.QuickJoin(ctx, "demo", lobby.JoinOptions{Port: 3}); err != nil {
		t.Fatal(err)
	}
	if err := a.Leave(ctx, j.Lobby.ID); err != nil {
		t.Fatal(err)
	}
	var text string
	testutil.WaitFor(t, 10*time.Second, "heartbeat RTTs in /metrics", func() bool {
		code, body := get(t, c.url+"/metrics")
		text = body
		n, _ := metricValue(body, "lanlobby_heartbeat_rtt_seconds_count")
		return code == 200 && n >= 3
	})
	for series, want := range map[string]float64{
		"lanlobby_connections":                         3,
		"lanlobby_members":                             3,
		`lanlobby_lobbies{state="open"}`:               1,
		`lanlobby_lobbies{state="started"}`:            0,
		"lanlobby_lobbies_created_total":               1,
		"lanlobby_joins_total":                         1,
		"lanlobby_quick_joins_total":                   1,
		`lanlobby_members_left_total{reason="left"}`:   1,
		"lanlobby_notices_sent_total":                  5,
		`lanlobby_refused_total{limit="request_rate"}`: 0,
		"lanlobby_slow_consumers_total":                0,
		"lanlobby_resumes_total":                       0,
		"lanlobby_restores_total":                      0,
		"lanlobby_connections_accepted_total":          3,
	} {
		got, ok := metricValue(text, series)
		if !ok || got != want {
			t.Errorf("%s = %v (found %v), want %v", series, got, ok, want)
		}
	}
	if !strings.Contains(text, `lanlobby_heartbeat_rtt_seconds_bucket{le="0.001"}`) || !strings.Contains(text, "# TYPE lanlobby_heartbeat_rtt_seconds histogram") {
		t.Errorf("no RTT histogram in:\n%s", text)
	}
	if code, body := get(t, c.url+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, c.url+"/readyz"); code != 200 {
		t.Errorf("/readyz: %d %q", code, body)
	}
	// The JSON view carries the members with their state.
	code, body := get(t, c.url+"/api/status")
	var v View
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || len(v.Lobbies) != 1 || len(v.Lobbies[0].Members) != 2 {
		t.Fatalf("/api/status: %d %v %s", code, err, body)
	}
	// The page and its assets come from the binary.
	code, page := get(t, c.url+"/")
	if code != 200 || !strings.Contains(page, `src="/static/status.js"`) || strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Fatalf("/: %d %s", code, page)
	}
	if code, _ := get(t, c.url+"/static/status.js"); code != 200 {
		t.Fatalf("status.js: %d", code)
	}
}

// TestReadyzFailsWhenStopped: a coordinator that stopped is not ready.
func TestReadyzFailsWhenStopped(t *testing.T) {
	c := startCoord(t, lobby.ServerConfig{}, Config{})
	if code, _ := get(t, c.url+"/readyz"); code != 200 {
		t.Fatalf("readyz before close: %d", code)
	}
	c.srv.Close()
	testutil.WaitFor(t, 10*time.Second, "readyz 503 after Close", func() bool {
		code, _ := get(t, c.url+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	testutil.WaitFor(t, 10*time.Second, "healthz 503 after the state goroutine stopped", func() bool {
		code, _ := get(t, c.url+"/healthz")
		return code == http.StatusServiceUnavailable
	})
}

// TestEventsStreamFollowsChanges: an event stream sends the view at once
// and again after a change.
func TestEventsStreamFollowsChanges(t *testing.T) {
	c := startCoord(t, lobby.ServerConfig{}, Config{MaxStreams: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.url+"/events", nil)
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	// A second stream is over MaxStreams.
	if code, _ := get(t, c.url+"/events"); code != http.StatusServiceUnavailable {
		t.Fatalf("second stream: %d", code)
	}
	lines := make(chan View, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var v View
				if json.Unmarshal([]byte(data), &v) == nil {
					lines <- v
				}
			}
		}
	}()
	next := func() View {
		select {
		case v := <-lines:
			return v
		case <-time.After(10 * time.Second):
			t.Fatal("no status event")
		}
		return View{}
	}
	if v := next(); len(v.Lobbies) != 0 {
		t.Fatalf("first view %+v", v)
	}
	owner := client(t, c.addr, "owner")
	j, err := owner.Create(context.Background(), lobby.CreateOptions{Game: "demo", Name: "sse", Capacity: 2, JoinOptions: lobby.JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		v := next()
		if len(v.Lobbies) == 1 && v.Lobbies[0].ID == j.Lobby.ID && v.Lobbies[0].Members[0].Name == "owner" {
			break
		}
	}
	cancel()
	for range lines {
	}
}
