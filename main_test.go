package lanlobby

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

func TestMain(m *testing.M) {
	// Tests that multicast run in netlab namespaces (labConfig), never on
	// this machine's interfaces.
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// waitTimeout bounds every wait for something that happens within
// milliseconds on a quiet machine: generous, since CI machines are busy.
const waitTimeout = 10 * time.Second

// labConfig is the fast preset for a library instance on lab host h: its
// sockets (discovery, coordinator links) are opened inside h's namespace.
// Calls that listen (Host) must themselves run inside h.Do.
func labConfig(h *netlab.Host) Config {
	c := DefaultConfig()
	c.Interfaces = []string{netlab.HostIface}
	c.BeaconInterval = 200 * time.Millisecond
	c.DaemonWait = -1
	c.Logger = quiet
	if os.Getenv("LL_DEBUG") != "" {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("host", h.Name)
	}
	c.spawn = func(f func()) {
		go h.Do(func() error { f(); return nil })
	}
	c.dial = func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
		err = h.Do(func() (err error) {
			conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
	return c
}

// in runs f inside h's namespace and fails the test on error.
func in[T any](t testing.TB, h *netlab.Host, f func() (T, error)) T {
	t.Helper()
	var v T
	err := h.Do(func() (err error) {
		v, err = f()
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", h.Name, err)
	}
	return v
}
