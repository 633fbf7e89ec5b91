package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procCPU returns the user plus system CPU time of process pid (0: this
// process) from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// anything: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bench: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("bench: short /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bench: malformed /proc stat times")
	}
	return time.Duration(u+s) * time.Second / time.Duration(clockTicks()), nil
}

// procRSS returns the resident set (VmRSS) and its high-water mark (VmHWM)
// of process pid in bytes.
func procRSS(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "1234 kB"
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("bench: no VmRSS in %s", procPath(pid, "status"))
	}
	return rss, hwm, nil
}

func procPath(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

var clockTicks = sync.OnceValue(func() int64 {
	// sysconf(_SC_CLK_TCK) without cgo: the kernel passes it in the
	// auxiliary vector as AT_CLKTCK (17). It is 100 on every common Linux.
	const atClkTck = 17
	b, err := os.ReadFile("/proc/self/auxv")
	word := strconv.IntSize / 8
	if err == nil {
		for i := 0; i+2*word <= len(b); i += 2 * word {
			var k, v uint64
			if word == 8 {
				k, v = binary.NativeEndian.Uint64(b[i:]), binary.NativeEndian.Uint64(b[i+8:])
			} else {
				k, v = uint64(binary.NativeEndian.Uint32(b[i:])), uint64(binary.NativeEndian.Uint32(b[i+4:]))
			}
			if k == atClkTck && v > 0 {
				return int64(v)
			}
		}
	}
	return 100
})

func cpuPct(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

// fdLimit reads this process's open-files limit from /proc/self/limits. Go
// raises the soft limit to the hard one at start-up on Linux.
func fdLimit() (soft, hard int, err error) {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) < 2 {
				break
			}
			soft, hard = limitValue(f[0]), limitValue(f[1])
			return soft, hard, nil
		}
	}
	return 0, 0, errors.New("bench: no open-files limit in /proc/self/limits")
}

func limitValue(s string) int {
	if s == "unlimited" {
		return 1 << 30
	}
	n, _ := strconv.Atoi(s)
	return n
}
