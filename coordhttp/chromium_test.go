package coordhttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/lanlobby/lanlobby/internal/testutil"
	"github.com/lanlobby/lanlobby/lobby"
)

// The status page is tested in a real browser: Debian's chromium, headless,
// driven over the DevTools protocol (a websocket from golang.org/x/net).
// .ci/run installs chromium; a machine without it fails this test rather
// than skipping it.

// chromiumFlags are those the machine notes ask for in a closed network,
// plus a DevTools port of chromium's choosing.
var chromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
	"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--remote-allow-origins=*",
	"--window-size=1280,1000", "about:blank"}

// browser is one headless chromium with a DevTools websocket to its page.
type browser struct {
	t  *testing.T
	ws *websocket.Conn
	id int
}

func startChromium(t *testing.T) *browser {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("chromium not found: install Debian's chromium (.ci/run does)")
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, append([]string{"--user-data-dir=" + dir}, chromiumFlags...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // chromium and its helpers
		<-exited
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", stderr.String())
		}
	})
	var port string
	testutil.WaitFor(t, 60*time.Second, "chromium's DevToolsActivePort", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort"))
		if first, _, ok := strings.Cut(string(b), "\n"); err == nil && ok {
			port = first
			return true
		}
		select {
		case <-exited:
			t.Fatalf("chromium exited:\n%s", stderr.String())
		default:
		}
		return false
	})
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	var wsURL string
	testutil.WaitFor(t, 30*time.Second, "chromium's page target", func() bool {
		resp, err := hc.Get("http://127.0.0.1:" + port + "/json/list")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var targets []struct{ Type, WebSocketDebuggerURL string }
		json.NewDecoder(resp.Body).Decode(&targets)
		for _, tg := range targets {
			if tg.Type == "page" && tg.WebSocketDebuggerURL != "" {
				wsURL = tg.WebSocketDebuggerURL
				return true
			}
		}
		return false
	})
	ws, err := websocket.Dial(wsURL, "", "http://127.0.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	ws.MaxPayloadBytes = 64 << 20 // screenshots
	t.Cleanup(func() { ws.Close() })
	return &browser{t: t, ws: ws}
}

// call sends one DevTools command and decodes its result, skipping the
// events that arrive meanwhile.
func (b *browser) call(method string, params any, result any) {
	b.t.Helper()
	b.id++
	if err := websocket.JSON.Send(b.ws, map[string]any{"id": b.id, "method": method, "params": params}); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
	b.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var msg struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct{ Message string }
		}
		if err := websocket.JSON.Receive(b.ws, &msg); err != nil {
			b.t.Fatalf("%s: %v", method, err)
		}
		if msg.ID != b.id {
			continue
		}
		if msg.Error != nil {
			b.t.Fatalf("%s: %s", method, msg.Error.Message)
		}
		if result != nil {
			if err := json.Unmarshal(msg.Result, result); err != nil {
				b.t.Fatalf("%s result: %v", method, err)
			}
		}
		return
	}
}

// eval evaluates a JavaScript expression in the page and returns its
// value as JSON.
func (b *browser) eval(expr string) json.RawMessage {
	b.t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct{ Text string } `json:"exceptionDetails"`
	}
	b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r)
	if r.ExceptionDetails != nil {
		b.t.Fatalf("eval %q: %s", expr, r.ExceptionDetails.Text)
	}
	return r.Result.Value
}

func (b *browser) evalBool(expr string) bool {
	var v bool
	json.Unmarshal(b.eval(expr), &v)
	return v
}

// artifactsDir is where tests leave files for people to look at:
// $LANLOBBY_ARTIFACTS, else lanlobby-artifacts in the temporary directory.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("LANLOBBY_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "lanlobby-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStatusPageInChromium loads the status page in headless Chromium,
// then creates a lobby: it must appear within 1 s (the page stamps when
// it first drew it); a member joins and shows its heartbeat RTT, leaves,
// and disappears. The page loads nothing from outside, and a screenshot
// is saved as an artifact.
func TestStatusPageInChromium(t *testing.T) {
	c := startCoord(t, lobby.ServerConfig{HeartbeatInterval: 100 * time.Millisecond, HeartbeatMisses: 20}, Config{Name: "test"})
	b := startChromium(t)
	b.call("Page.enable", nil, nil)
	b.call("Page.navigate", map[string]any{"url": c.url + "/"}, nil)
	testutil.WaitFor(t, 30*time.Second, "the page's first status update", func() bool {
		return b.evalBool(`!!(window.lanlobbyStatus && window.lanlobbyStatus.updates > 0)`)
	})
	if !b.evalBool(`[...document.querySelectorAll("script[src],link[href],img[src]")].every(e => (e.src || e.href).startsWith(location.origin + "/"))`) {
		t.Fatal("the page loads something from another origin")
	}

	ctx := context.Background()
	owner := client(t, c.addr, "owner")
	j, err := owner.Create(ctx, lobby.CreateOptions{Game: "demo", Name: "Zoë's lobby", Capacity: 4, JoinOptions: lobby.JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	createdAt := time.Now().UnixMilli()
	sel := fmt.Sprintf(`document.querySelector('[data-lobby=%q]')`, j.Lobby.ID)
	var shownAt int64
	testutil.WaitFor(t, 30*time.Second, "the new lobby on the page", func() bool {
		json.Unmarshal(b.eval(sel+`?.dataset.shownAt ? Number(`+sel+`.dataset.shownAt) : 0`), &shownAt)
		return shownAt > 0
	})
	delay := time.Duration(shownAt-createdAt) * time.Millisecond
	t.Logf("lobby created -> drawn on the page: %v", delay)
	if delay > time.Second {
		t.Errorf("the lobby appeared %v after it was created, want within 1s", delay)
	}
	if !b.evalBool(sel + `.textContent.includes("Zoë's lobby")`) {
		t.Errorf("lobby card: %s", b.eval(sel+`.textContent`))
	}

	bob := client(t, c.addr, "bob")
	if _, err := bob.Join(ctx, j.Lobby.ID, lobby.JoinOptions{Port: 2}); err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf(`document.querySelector('[data-member=%q]')`, bob.ID())
	testutil.WaitFor(t, 30*time.Second, "bob's row with an RTT", func() bool {
		return b.evalBool(row + `?.querySelector(".rtt")?.textContent.endsWith(" ms") ?? false`)
	})
	if !b.evalBool(fmt.Sprintf(`!!document.querySelector('[data-net-host="127.0.0.1"]') && !!document.querySelector('[data-net-lobby=%q]')`, j.Lobby.ID)) {
		t.Error("the network picture lacks the host or the lobby")
	}
	var png struct{ Data string }
	b.call("Page.captureScreenshot", map[string]any{"format": "png"}, &png)
	img, err := base64.StdEncoding.DecodeString(png.Data)
	if err != nil || !bytes.HasPrefix(img, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %v (%d bytes)", err, len(img))
	}
	path := filepath.Join(artifactsDir(t), "status-page.png")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the status page (%d bytes): %s", len(img), path)

	if err := bob.Leave(ctx, j.Lobby.ID); err != nil {
		t.Fatal(err)
	}
	leftAt := time.Now()
	testutil.WaitFor(t, 30*time.Second, "bob gone from the page", func() bool {
		return b.evalBool(row + ` === null`)
	})
	t.Logf("member left -> gone from the page within %v", time.Since(leftAt))
	if !b.evalBool(sel + ` !== null`) {
		t.Error("the lobby vanished with bob")
	}
}
