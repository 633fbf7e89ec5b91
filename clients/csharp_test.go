package clients

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildCSharp compiles the C# SDK once per test binary: the library alone
// (Runtime/ must build without the samples and tests, as a Unity package's
// runtime assembly), then the test program with the sample and the
// conformance driver. Returns the test program's path.
func buildCSharp(t *testing.T) string {
	t.Helper()
	mcs := need(t, "mcs", "mono-mcs")
	need(t, "mono", "mono-runtime")
	csOnce.Do(func() { csExe, csErr = compileCSharp(mcs, filepath.Join(buildDir, "csharp")) })
	if csErr != nil {
		t.Fatal(csErr)
	}
	return csExe
}

var (
	csOnce sync.Once
	csExe  string
	csErr  error
)

func compileCSharp(mcs, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var srcs [3][]string
	for i, d := range []string{"Runtime", "Samples", "Tests~"} {
		fs, err := filepath.Glob(filepath.Join("csharp", d, "*.cs"))
		if err != nil || len(fs) == 0 {
			return "", fmt.Errorf("no C# sources in csharp/%s", d)
		}
		srcs[i] = fs
	}
	refs := []string{"-r:System.dll", "-r:System.Core.dll", "-optimize+", "-warnaserror+"}
	lib := exec.Command(mcs, append(append(refs, "-target:library", "-out:"+filepath.Join(dir, "LanLobby.dll")), srcs[0]...)...)
	if out, err := lib.CombinedOutput(); err != nil {
		return "", fmt.Errorf("mcs Runtime/: %v\n%s", err, out)
	}
	exe := filepath.Join(dir, "SdkTests.exe")
	build := exec.Command(mcs, append(append(refs, "-out:"+exe), append(append(srcs[0], srcs[1]...), srcs[2]...)...)...)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("mcs tests: %v\n%s", err, out)
	}
	return exe, nil
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

// TestCSharpUnityPackage checks what Unity needs of the package and what
// IL2CPP and .NET Standard 2.0 forbid: a manifest, assembly definitions, a
// .meta with a unique guid for every file and folder (a package added by git
// URL is read-only, so Unity cannot make them), and no API the runtime
// assembly must not use.
func TestCSharpUnityPackage(t *testing.T) {
	var manifest struct{ Name, Version, Unity, DisplayName string }
	readJSON(t, "csharp/package.json", &manifest)
	if manifest.Name != "com.lanlobby.sdk" || manifest.Version == "" || manifest.Unity == "" {
		t.Errorf("package.json: %+v", manifest)
	}
	var asmdef struct {
		Name               string
		NoEngineReferences bool
		AllowUnsafeCode    bool
	}
	readJSON(t, "csharp/Runtime/LanLobby.asmdef", &asmdef)
	if asmdef.Name != "LanLobby" || !asmdef.NoEngineReferences || asmdef.AllowUnsafeCode {
		t.Errorf("Runtime asmdef: %+v", asmdef)
	}
	guids := map[string]string{}
	check := func(path string) {
		meta, err := os.ReadFile(path + ".meta")
		if err != nil {
			t.Errorf("%s has no .meta", path)
			return
		}
		m := guidRE.FindSubmatch(meta)
		if m == nil {
			t.Errorf("%s.meta has no guid", path)
			return
		}
		if other, dup := guids[string(m[1])]; dup {
			t.Errorf("%s and %s share guid %s", path, other, m[1])
		}
		guids[string(m[1])] = path
	}
	for _, p := range []string{"csharp/package.json", "csharp/README.md", "csharp/Runtime", "csharp/Samples"} {
		check(p)
	}
	for _, dir := range []string{"csharp/Runtime", "csharp/Samples"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if base, ok := strings.CutSuffix(p, ".meta"); ok {
				if _, err := os.Stat(base); err != nil {
					t.Errorf("%s has no file", p)
				}
				continue
			}
			check(p)
			if !strings.HasSuffix(p, ".cs") || dir != "csharp/Runtime" {
				continue
			}
			src, _ := os.ReadFile(p)
			code := lineComment.ReplaceAllString(string(src), "")
			for _, bad := range forbiddenCS {
				if bad.MatchString(code) {
					t.Errorf("%s uses %s (not in .NET Standard 2.0 / Unity / IL2CPP)", p, bad)
				}
			}
		}
	}
}

var (
	guidRE      = regexp.MustCompile(`(?m)^guid: ([0-9a-f]{32})$`)
	lineComment = regexp.MustCompile(`(?m)//.*$`)
	forbiddenCS = []*regexp.Regexp{
		regexp.MustCompile(`System\.Text\.Json`), regexp.MustCompile(`\bdynamic\b`), regexp.MustCompile(`Reflection\.Emit`),
		regexp.MustCompile(`using System\.Reflection`), regexp.MustCompile(`\bunsafe\b`), regexp.MustCompile(`\.GetIPv6Properties\(`),
		regexp.MustCompile(`\bSpan<`), regexp.MustCompile(`\bValueTask\b`),
	}
)

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
