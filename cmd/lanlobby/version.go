package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, the protocol versions spoken and the build",
		Description: "Examples:\n" +
			"  lanlobby version\n" +
			"  lanlobby version --json",
		Flags: []cli.Flag{flagJSON},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError(c, "version takes no argument")
			}
			commit := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						commit = s.Value[:12]
					}
				}
			}
			v := struct {
				Event    string `json:"event"`
				Version  string `json:"version"`
				Protocol int    `json:"protocol"`
				Beacon   int    `json:"beacon"`
				Go       string `json:"go"`
				OS       string `json:"os"`
				Arch     string `json:"arch"`
				Commit   string `json:"commit,omitempty"`
			}{"version", version, lobby.ProtocolVersion, beacon.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, commit}
			text := fmt.Sprintf("lanlobby %s (coordinator protocol %d, beacon %d; %s %s/%s", version, v.Protocol, v.Beacon, v.Go, v.OS, v.Arch)
			if commit != "" {
				text += ", commit " + commit
			}
			newPrinter(c.App.Writer, c.Bool("json")).emit(v, text+")")
			return nil
		},
	}
}

// Shell completion: bash and zsh ask the binary for the words
// (urfave/cli's --generate-bash-completion), fish gets a generated script.
const bashCompletion = `# lanlobby completion for bash: source it, or put it in
# /etc/bash_completion.d/lanlobby (lanlobby completion bash > ...).
_lanlobby_complete() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  return 0
}
complete -o bashdefault -o default -F _lanlobby_complete lanlobby
`

const zshCompletion = `#compdef lanlobby
# lanlobby completion for zsh: put it in a directory of $fpath as _lanlobby
# (lanlobby completion zsh > "${fpath[1]}/_lanlobby"), or source it.
_lanlobby() {
  local -a opts
  local cur
  cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
if [[ "$(basename -- ${(%):-%x})" != "_lanlobby" ]]; then
  compdef _lanlobby lanlobby
fi
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "Examples:\n" +
			"  source <(lanlobby completion bash)\n" +
			"  lanlobby completion zsh > \"${fpath[1]}/_lanlobby\"\n" +
			"  lanlobby completion fish > ~/.config/fish/completions/lanlobby.fish",
		Action: func(c *cli.Context) error {
			switch sh := c.Args().First(); {
			case c.NArg() != 1:
				return usageError(c, "completion takes one shell: bash, zsh or fish")
			case sh == "bash":
				io.WriteString(c.App.Writer, bashCompletion)
			case sh == "zsh":
				io.WriteString(c.App.Writer, zshCompletion)
			case sh == "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return &cliError{msg: err.Error(), exit: exitFailure}
				}
				fmt.Fprint(c.App.Writer, s)
			default:
				return usageError(c, fmt.Sprintf("no completion for %q: bash, zsh or fish", sh))
			}
			return nil
		},
	}
}

func manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the manual page (roff); make man writes bin/lanlobby.1",
		Hidden: true,
		Action: func(c *cli.Context) error {
			fmt.Fprint(c.App.Writer, string(md2man.Render([]byte(manMarkdown(c.App)))))
			return nil
		},
	}
}

// manMarkdown is the manual page in go-md2man's markdown: every command
// with its description (examples included) and flags, exit codes and the
// environment.
func manMarkdown(app *cli.App) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%% lanlobby 1 \"lanlobby %s\"\n\n# NAME\n\nlanlobby - %s\n\n", version, app.Usage)
	b.WriteString("# SYNOPSIS\n\n**lanlobby** *command* [*options*] [*arguments*]\n\n")
	b.WriteString("# DESCRIPTION\n\nlanlobby finds and forms multiplayer game parties on a local network with no configuration: " +
		"a host announces a lobby over a UDP multicast beacon and mDNS/DNS-SD, players list it or quick-join the lobby closest " +
		"to starting, and a coordinator holds a TCP link to every member and tells each lobby's members who joins and leaves.\n\n")
	b.WriteString("# COMMANDS\n\n")
	for _, cmd := range app.Commands {
		if cmd.Hidden {
			continue
		}
		fmt.Fprintf(&b, "## %s %s\n\n%s\n\n", cmd.Name, cmd.ArgsUsage, cmd.Usage)
		if cmd.Description != "" {
			for _, para := range strings.Split(cmd.Description, "\n\n") {
				if strings.HasPrefix(para, "Examples:") {
					b.WriteString("Examples:\n\n")
					for _, line := range strings.Split(strings.TrimPrefix(para, "Examples:\n"), "\n") {
						fmt.Fprintf(&b, "    %s\n", strings.TrimSpace(line))
					}
					b.WriteString("\n")
					continue
				}
				b.WriteString(strings.ReplaceAll(para, "\n", " ") + "\n\n")
			}
		}
		for _, f := range cmd.Flags {
			names := f.Names()
			for i, n := range names {
				if len(n) == 1 {
					names[i] = "-" + n
				} else {
					names[i] = "--" + n
				}
			}
			usage := ""
			if u, ok := f.(interface{ GetUsage() string }); ok {
				usage = u.GetUsage()
			}
			fmt.Fprintf(&b, "**%s**\n: %s\n\n", strings.Join(names, ", "), usage)
		}
	}
	b.WriteString("# EXIT STATUS\n\n0 success; 1 the operation failed (unknown or full lobby, unreachable coordinator, a doctor check failed); " +
		"2 a mistake in the command line (nothing was started).\n\n")
	b.WriteString("# ENVIRONMENT\n\n**LANLOBBY_COORDINATOR**, **LANLOBBY_PLAYER**, **LANLOBBY_INTERFACE**, **LANLOBBY_BEACON_PORT**, " +
		"**LANLOBBY_LAN_KEY**, **LANLOBBY_PASSWORD**, **LANLOBBY_NO_MDNS**, **LANLOBBY_NO_BEACON** set the defaults of the flags of " +
		"the same names. **NO_COLOR** or **TERM=dumb** turn off progress lines, colour and screen redrawing.\n\n")
	b.WriteString("# SEE ALSO\n\nPROTOCOL.md (the wire protocols), README.md.\n")
	return b.String()
}
