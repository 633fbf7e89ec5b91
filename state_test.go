package lanlobby

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestLoadSecret: the first load creates the state directory (0700) and
// the secret (0600); the next returns the same secret; a secret others
// may read is made private; a damaged one is an error naming the file.
func TestLoadSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "lanlobby")
	s1, err := LoadSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1) != 32 {
		t.Fatalf("secret of %d bytes", len(s1))
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state directory mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	path := filepath.Join(dir, SecretFile)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	s2, err := LoadSecret(dir)
	if err != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("second load: %x, %v; want the same secret", s2, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("state directory holds %d files, want the secret alone", len(entries))
	}
	os.Chmod(path, 0o644)
	if _, err := LoadSecret(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("readable secret left at %v", fi.Mode().Perm())
	}
	os.WriteFile(path, []byte("not hex\n"), 0o600)
	if _, err := LoadSecret(dir); err == nil || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Fatalf("damaged secret: %v", err)
	}
}

// TestDefaultStateDir: the environment variable wins, else the user's
// configuration directory.
func TestDefaultStateDir(t *testing.T) {
	t.Setenv(StateDirEnv, "")
	t.Setenv("XDG_CONFIG_HOME", "/tmp/xdg-test")
	if d, err := DefaultStateDir(); err != nil || d != "/tmp/xdg-test/lanlobby" {
		t.Fatalf("default %q, %v", d, err)
	}
	t.Setenv(StateDirEnv, "/srv/lanlobby")
	if d, _ := DefaultStateDir(); d != "/srv/lanlobby" {
		t.Fatalf("with %s: %q", StateDirEnv, d)
	}
}
