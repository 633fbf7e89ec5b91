package netutil

import (
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quietLog drops the logs of components under test.
var quietLog = slog.New(slog.DiscardHandler)

func contains(s, sub string) bool { return strings.Contains(s, sub) }
