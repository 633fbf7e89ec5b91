package clients

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var pyLine = regexp.MustCompile(`^(test_\w+) \(([\w.]+)\)`)

// TestPythonSDK runs the Python SDK's unittest suite (in a one-host lab, see
// runInLab) against real coordinators: the same scope as the C# tests.
func TestPythonSDK(t *testing.T) {
	py := need(t, "python3", "python3")
	tests, _ := filepath.Abs("python/tests")
	lines, err := runInLab(t, 3*time.Minute, py, "-m", "unittest", "discover", "-s", tests, "-t", tests, "-v")
	out := strings.Join(lines, "\n")
	// unittest -v: "test_x (module.Class.test_x) ... ok" (a test's own
	// output may come between the name and the verdict).
	var results []result
	var cur *result
	for _, line := range lines {
		if m := pyLine.FindStringSubmatch(line); m != nil {
			results = append(results, result{name: strings.TrimSuffix(m[2], "."+m[1]) + "." + m[1]})
			cur = &results[len(results)-1]
		}
		if cur == nil {
			continue
		}
		switch {
		case strings.HasSuffix(line, " ok") || line == "ok":
			cur.ok, cur = true, nil
		case strings.HasSuffix(line, " FAIL") || line == "FAIL" || strings.HasSuffix(line, " ERROR") || line == "ERROR":
			cur.detail, cur = "failed: see the SDK output", nil
		}
	}
	if err == nil && !strings.Contains(out, "\nOK") {
		t.Errorf("unittest did not end with OK")
	}
	report(t, results, out, err)
}

// TestPythonPackageInstalls installs the SDK the way a game developer does,
// `pip install ./clients/python`, into a fresh venv with no package index
// (the build backend is in-tree and needs nothing), then runs its smoke entry
// point against a coordinator where the Go CLI hosts a lobby.
func TestPythonPackageInstalls(t *testing.T) {
	py := need(t, "python3", "python3")
	venv := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command(py, "-m", "venv", venv).CombinedOutput(); err != nil {
		t.Fatalf("python3 -m venv (Debian: apt-get install python3-venv): %v\n%s", err, out)
	}
	pip := exec.Command(filepath.Join(venv, "bin", "pip"), "install", "--no-index", "--disable-pip-version-check", "./python")
	if out, err := pip.CombinedOutput(); err != nil {
		t.Fatalf("pip install ./clients/python: %v\n%s", err, out)
	}

	coord := startProc(t, binPath, "coordinator", "--listen", "127.0.0.1:0", "--announce=false", "--json")
	stdout, _ := coord.StdoutPipe()
	if err := coord.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { coord.Process.Kill(); coord.Wait() })
	var listening struct{ Addr string }
	if err := json.NewDecoder(stdout).Decode(&listening); err != nil || listening.Addr == "" {
		t.Fatalf("coordinator listening line: %v %+v", err, listening)
	}
	host := startProc(t, binPath, "host", "--coordinator", listening.Addr, "--game", "demo", "--name", "Zoë's ☕ game",
		"--players", "3", "--port", "7777", "--game-version", "1.4.2", "--meta", "map=dunes", "--json")
	hostOut, _ := host.StdoutPipe()
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })
	var created struct{ Event, Lobby string }
	if err := json.NewDecoder(hostOut).Decode(&created); err != nil || created.Event != "created" {
		t.Fatalf("host: %v %+v", err, created)
	}

	pyList := func(args ...string) []byte {
		list := exec.Command(filepath.Join(venv, "bin", "python"), append([]string{"-m", "lanlobby", "list", "--coordinator", listening.Addr, "--json"}, args...)...)
		list.Dir = t.TempDir() // import the installed package, not the source tree
		out, err := list.CombinedOutput()
		if err != nil {
			t.Fatalf("python -m lanlobby list %v: %v\n%s", args, err, out)
		}
		return out
	}
	out := pyList("--game-version", "1.4", "--version-rule", "compatible", "--filter", "map=dunes")
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil || got["id"] != created.Lobby || got["name"] != "Zoë's ☕ game" || got["players"] != float64(1) ||
		got["version"] != "1.4.2" {
		t.Fatalf("python -m lanlobby list printed %q (%v), want lobby %s of version 1.4.2", out, err, created.Lobby)
	}
	if out := pyList("--game-version", "1.5", "--version-rule", "compatible"); len(out) != 0 {
		t.Fatalf("python -m lanlobby list of another version printed %q", out)
	}
}
