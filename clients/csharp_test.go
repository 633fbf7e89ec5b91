package clients

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildCSharp compiles the C# SDK: the library alone (Runtime/ must build
// without the samples and tests, as a Unity package's runtime assembly), then
// the test program with the sample. Returns the test program's path.
func buildCSharp(t *testing.T) string {
	t.Helper()
	mcs := need(t, "mcs", "mono-mcs")
	need(t, "mono", "mono-runtime")
	dir := t.TempDir()
	glob := func(d string) []string {
		fs, err := filepath.Glob(filepath.Join("csharp", d, "*.cs"))
		if err != nil || len(fs) == 0 {
			t.Fatalf("no C# sources in csharp/%s", d)
		}
		return fs
	}
	refs := []string{"-r:System.dll", "-r:System.Core.dll", "-optimize+", "-warnaserror+"}
	lib := exec.Command(mcs, append(append(refs, "-target:library", "-out:"+filepath.Join(dir, "LanLobby.dll")), glob("Runtime")...)...)
	if out, err := lib.CombinedOutput(); err != nil {
		t.Fatalf("mcs Runtime/: %v\n%s", err, out)
	}
	exe := filepath.Join(dir, "SdkTests.exe")
	srcs := append(append(glob("Runtime"), glob("Samples")...), glob("Tests~")...)
	build := exec.Command(mcs, append(append(refs, "-out:"+exe), srcs...)...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("mcs tests: %v\n%s", err, out)
	}
	return exe
}

// TestCSharpSDK builds the C# SDK with mcs and runs its tests with mono
// (in a one-host lab, see runInLab) against real coordinators: every call and notice, heartbeats,
// a blip and resume, restore after a restart, timeouts, hosting at a child
// process and at a daemon found by beacon on lo, LAN quick-join and join by
// name, the KDF and codec vectors of PROTOCOL.md.
func TestCSharpSDK(t *testing.T) {
	exe := buildCSharp(t)
	lines, err := runInLab(t, 3*time.Minute, "mono", exe, "unit")
	var results []result
	for _, line := range lines {
		if m := csResult.FindStringSubmatch(line); m != nil {
			results = append(results, result{name: m[2], ok: m[1] == "PASS", detail: m[4]})
		}
		if strings.HasPrefix(line, "    KDF") {
			t.Log(strings.TrimSpace(line))
		}
	}
	report(t, results, strings.Join(lines, "\n"), err)
}
