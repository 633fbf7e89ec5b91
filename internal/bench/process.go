package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// coordinator is the coordinator process, or the floor server's: a server
// that prints {"event":"listening","addr":...} as its first line.
type coordinator struct {
	name   string // "coordinator" or "floor server", for messages
	cmd    *exec.Cmd
	args   []string // after the binary
	addr   string
	stderr *tailBuffer
	exited chan struct{} // closed once the process has been waited for
	err    error         // Wait's result, set before exited closes
	once   sync.Once
}

func startCoordinator(cfg LoadConfig) (*coordinator, error) {
	args := append(append([]string(nil), cfg.Coordinator[1:]...),
		"--listen", "127.0.0.1:0", "--announce=false", "--json",
		"--heartbeat", cfg.Heartbeat.String(), "--misses", strconv.Itoa(cfg.Misses), "--log-level", "warn")
	if !cfg.KeepRateLimit && hasFlag(cfg.Coordinator, "--max-request-rate") {
		args = append(args, "--max-request-rate", "-1")
	}
	// Neither the status page nor a line per join: the load measured is
	// the coordinator's own (binaries that have these flags).
	if hasFlag(cfg.Coordinator, "--activity") {
		args = append(args, "--activity=false", "--http=")
	}
	args = append(args, cfg.CoordinatorArgs...)
	return startServer("coordinator", cfg.Coordinator[0], args, cfg.Env)
}

// startServer starts bin with args (and env added to the environment) and
// waits for the loopback address it says it listens on.
func startServer(name, bin string, args, env []string) (*coordinator, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	first := &firstLine{ch: make(chan string, 1)}
	co := &coordinator{name: name, cmd: cmd, stderr: &tailBuffer{max: 16 << 10}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = first, co.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	setDeathSignal(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	go func() {
		co.err = cmd.Wait()
		close(co.exited)
	}()
	var line string
	select {
	case line = <-first.ch:
	case <-co.exited:
		return nil, co.exitError()
	case <-time.After(15 * time.Second):
		co.stop(time.Second)
		return nil, fmt.Errorf("bench: %s did not say where it listens within 15s", name)
	}
	var ev struct {
		Event string `json:"event"`
		Addr  string `json:"addr"`
	}
	var err error
	if json.Unmarshal([]byte(line), &ev) != nil || ev.Event != "listening" {
		err = fmt.Errorf("first line %q", line)
	} else if ap, perr := netip.ParseAddrPort(ev.Addr); perr != nil || !ap.Addr().IsLoopback() {
		err = fmt.Errorf("listens on %q, not on loopback", ev.Addr)
	}
	if err != nil {
		co.stop(time.Second)
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	co.addr = ev.Addr
	co.args = args
	return co, nil
}

// hasFlag reports whether the coordinator command's --help mentions flag
// (older coordinators lack some).
func hasFlag(command []string, flag string) bool {
	args := append(append([]string(nil), command[1:]...), "--help")
	out, _ := exec.Command(command[0], args...).CombinedOutput()
	return bytes.Contains(out, []byte(flag+" "))
}

func (co *coordinator) pid() int { return co.cmd.Process.Pid }

func (co *coordinator) exitError() error {
	<-co.exited
	return fmt.Errorf("bench: %s exited early (%v): %s", co.name, co.err, strings.TrimSpace(co.stderr.String()))
}

// explain adds the coordinator's last log lines to err: a connection it
// refused (too many from one address, say) shows up here only as a reset.
func (co *coordinator) explain(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	lines := strings.Split(strings.TrimSpace(co.stderr.String()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return err
	}
	return fmt.Errorf("%w\n%s log (last lines):\n%s", err, co.name, strings.Join(lines[max(0, len(lines)-3):], "\n"))
}

// stop asks the coordinator to shut down and kills it if it has not
// exited after grace; it returns once the process has been reaped.
func (co *coordinator) stop(grace time.Duration) {
	co.once.Do(func() {
		if co.cmd.Process.Signal(syscall.SIGTERM) != nil {
			co.cmd.Process.Kill()
		}
		select {
		case <-co.exited:
			return
		case <-time.After(grace):
		}
		co.cmd.Process.Kill()
	})
	<-co.exited
}

// setDeathSignal asks Linux to SIGKILL the coordinator if the generator
// dies without cleaning up (kill -9). Pdeathsig exists only in Linux's
// SysProcAttr; reflection keeps this file building elsewhere.
func setDeathSignal(attr *syscall.SysProcAttr) {
	f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig")
	sig := reflect.ValueOf(syscall.SIGKILL)
	if f.IsValid() && f.CanSet() && f.Type() == sig.Type() {
		f.Set(sig)
	}
}

// firstLine is a writer that hands over the first line written to it and
// discards the rest.
type firstLine struct {
	buf  []byte
	done bool
	ch   chan string
}

func (f *firstLine) Write(p []byte) (int, error) {
	if f.done {
		return len(p), nil
	}
	f.buf = append(f.buf, p...)
	if i := bytes.IndexByte(f.buf, '\n'); i >= 0 || len(f.buf) > 4096 {
		if i < 0 {
			i = len(f.buf)
		}
		f.ch <- string(f.buf[:i])
		f.done, f.buf = true, nil
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
