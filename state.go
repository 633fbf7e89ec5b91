package lanlobby

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lanlobby/lanlobby/lobby"
)

// The coordinator daemon's state directory keeps what must survive a
// restart: the secret its resume tokens and restore credentials derive
// from (lobby.ServerConfig.Secret). Lobby state itself stays soft; clients
// bring it back, and the secret is how the restarted daemon knows them
// from an outsider who listed the lobby ids.
const (
	// StateDirEnv overrides the default state directory, as --state-dir
	// does.
	StateDirEnv = "LANLOBBY_STATE_DIR"
	// SecretFile is the secret's file in the state directory: 64 hex
	// digits and a newline, mode 0600 (the directory is 0700).
	SecretFile = "coordinator.secret"
)

// DefaultStateDir is where a daemon keeps its state unless told
// otherwise: $LANLOBBY_STATE_DIR, else the lanlobby directory under the
// user's configuration directory (os.UserConfigDir: $XDG_CONFIG_HOME or
// ~/.config on Linux, ~/Library/Application Support on macOS, %AppData%
// on Windows).
func DefaultStateDir() (string, error) {
	if d := os.Getenv(StateDirEnv); d != "" {
		return d, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("lanlobby: no state directory: %w", err)
	}
	return filepath.Join(base, "lanlobby"), nil
}

// LoadSecret returns the coordinator secret kept in dir, creating dir
// (0700) and the secret (0600) the first time. A secret file that others
// may read is made private again.
func LoadSecret(dir string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lanlobby: state directory: %w", err)
	}
	path := filepath.Join(dir, SecretFile)
	secret, err := readSecret(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err = writeSecret(dir, path); err == nil || errors.Is(err, fs.ErrExist) {
			secret, err = readSecret(path) // ours, or one a racing start wrote first
		}
	}
	if err != nil {
		return nil, err
	}
	return secret, nil
}

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(secret) < lobby.SecretLen {
		return nil, fmt.Errorf("lanlobby: %s is not a coordinator secret (%d bytes of hex wanted); remove it to make a new one (clients then cannot restore their lobbies once)", path, lobby.SecretLen)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("lanlobby: %s may be read by others and cannot be made private: %w", path, err)
		}
	}
	return secret, nil
}

// writeSecret writes a new secret to a temporary file, syncs it and links
// it into place, so that a crash leaves either no secret or a whole one,
// and two daemons starting at once end up with the same.
func writeSecret(dir, path string) error {
	tmp, err := os.CreateTemp(dir, SecretFile+".*")
	if err != nil {
		return fmt.Errorf("lanlobby: state directory: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(lobby.NewSecret()) + "\n")
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("lanlobby: writing the coordinator secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("lanlobby: writing the coordinator secret: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
