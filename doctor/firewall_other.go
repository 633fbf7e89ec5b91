//go:build !linux

package doctor

import (
	"context"
	"runtime"
)

// firewallFindings says what to check where the doctor cannot read the
// rules itself.
func firewallFindings(context.Context, ports) []Finding {
	f := Finding{Check: "firewall", Status: Warn, Detail: "the firewall rules cannot be read on this system"}
	switch runtime.GOOS {
	case "windows":
		f.Fix = "in PowerShell: Get-NetConnectionProfile must say Private, not Public (Set-NetConnectionProfile -NetworkCategory Private); " +
			"Windows Defender Firewall must allow lanlobby (and the game) on private networks, UDP 7601 and 5353 and TCP 7600 inbound; " +
			"a first-run prompt that was dismissed blocks it silently"
	case "darwin":
		f.Fix = "System Settings > Network > Firewall: allow incoming connections for lanlobby and the game; " +
			"System Settings > Privacy & Security > Local Network: allow the game (macOS 15 and later ask per app)"
	default:
		f.Fix = "check that the firewall accepts UDP 7601 and 5353 and TCP 7600"
	}
	return []Finding{f}
}
