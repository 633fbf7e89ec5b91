package mdns

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/internal/netlab"
)

// TestMain fails the package if any test leaves a goroutine behind, and
// removes the peer programs built for the lab tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if peersDir != "" {
			os.RemoveAll(peersDir)
		}
		os.Exit(code)
	}))
}

// quiet discards logs; MDNS_TEST_LOG=1 shows them.
var quiet = func() *slog.Logger {
	if os.Getenv("MDNS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}()

const waitTimeout = 10 * time.Second

// runner is something with Run and Close.
type runner interface {
	Run(context.Context) error
	Close() error
}

// runIn runs r inside h's namespace: Run opens its sockets there. The
// test's cleanup closes it and checks that Run returned nil.
func runIn(t testing.TB, h *netlab.Host, r runner) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- h.Do(func() error { return r.Run(context.Background()) }) }()
	t.Cleanup(func() {
		r.Close()
		if err := <-errc; err != nil {
			t.Errorf("%s: Run: %v", h.Name, err)
		}
	})
}

// nextEvent returns the next event of ch within the timeout.
func nextEvent(t testing.TB, ch <-chan beacon.Event, timeout time.Duration) beacon.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("events closed")
		}
		t.Logf("event: %s %s %q host %v players %d state %v", ev.Type, ev.Lobby.ID, ev.Lobby.Name, ev.Lobby.Host, ev.Lobby.Players, ev.Lobby.State)
		return ev
	case <-time.After(timeout):
		t.Fatal("no event within", timeout)
		return beacon.Event{}
	}
}
