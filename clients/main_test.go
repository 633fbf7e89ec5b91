package clients

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// binPath is the lanlobby binary the SDKs' tests run coordinators and host
// mode with, goDriverPath the Go client's conformance driver; both built
// once by TestMain into buildDir.
var binPath, goDriverPath, buildDir string

func TestMain(m *testing.M) {
	// Nothing here may multicast on the machine's real interfaces: every
	// child inherits this and keeps LAN discovery on loopback. Lab tests
	// override it per process, inside their namespaces.
	os.Setenv("LANLOBBY_INTERFACE", "lo")
	dir, err := os.MkdirTemp("", "lanlobby-sdk-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	binPath = filepath.Join(dir, "lanlobby")
	// Coordinator daemons keep their secret here, not in the user's
	// configuration directory; a restarted one finds it again.
	os.Setenv("LANLOBBY_STATE_DIR", filepath.Join(dir, "state"))
	goDriverPath = filepath.Join(dir, "godriver")
	for _, b := range [][2]string{{binPath, "../cmd/lanlobby"}, {goDriverPath, "./conformance/godriver"}} {
		build := exec.Command("go", "build", "-o", b[0], b[1])
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", b[1]+":", err)
			os.Exit(1)
		}
	}
	os.Setenv("LANLOBBY_BIN", binPath)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// need returns the path of a program the tests cannot run without, failing
// (never skipping) with how to install it.
func need(t *testing.T, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Fatalf("%s is needed for the SDK tests and is missing: apt-get install -y %s (.ci/run installs it)", prog, pkg)
	}
	return p
}

// result is one test an SDK's own runner reported.
type result struct {
	name, detail string
	ok           bool
}

var csResult = regexp.MustCompile(`^--- (PASS|FAIL): (\S+) \(([0-9.]+)s\)(?:: (.*))?$`)

// report turns an SDK run into Go subtests, so `go test -v` names every
// check, and fails when the run failed or ran nothing.
func report(t *testing.T, results []result, out string, runErr error) {
	t.Helper()
	for _, r := range results {
		t.Run(r.name, func(t *testing.T) {
			if !r.ok {
				t.Error(r.detail)
			}
		})
	}
	if runErr != nil || len(results) == 0 {
		t.Fatalf("SDK test run failed (%v, %d tests reported):\n%s", runErr, len(results), out)
	}
	if testing.Verbose() {
		t.Logf("SDK output:\n%s", out)
	}
}

// runInLab runs an SDK's test program on a one-host lab (a network
// namespace of its own, internal/netlab) with LAN discovery on the lab's
// lan0: its beacon tests multicast there and nowhere else, and its loopback
// coordinators are the namespace's own. Returns the output lines.
func runInLab(t *testing.T, timeout time.Duration, prog string, args ...string) ([]string, error) {
	t.Helper()
	lab := netlab.New(t, netlab.Options{Hosts: 1})
	env := []string{"LANLOBBY_BIN=" + binPath, "LANLOBBY_INTERFACE=" + netlab.HostIface, "PYTHONDONTWRITEBYTECODE=1"}
	p := lab.Hosts[0].Start(t, "/usr/bin/env", append(append(env, prog), args...)...)
	code, err := p.Wait(timeout)
	if err == nil && code != 0 {
		err = fmt.Errorf("exit status %d", code)
	}
	return p.Lines(), err
}

// startProc starts a long-running program in its own process group, killed at
// the end of the test.
func startProc(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}
