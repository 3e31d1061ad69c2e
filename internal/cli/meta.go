package cli

import (
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// date is the build date, set by the release build through -ldflags.
var date = ""

type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"` // "unknown" for a build nothing stamped
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func currentVersion() versionInfo {
	v, c, d := buildStamp()
	return versionInfo{Version: v, Commit: orNone(c), Date: d, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print the version, commit and Go version",
		ArgsUsage: " ",
		Description: `Release builds carry the version, commit and date they were built from; a
go install build reports its module version.

Example:
   apimtls version
   apimtls version -o json`,
		Action: func(c *cli.Context) error {
			format, err := startNoArgs(c)
			if err != nil {
				return err
			}
			v := currentVersion()
			if format == outputJSON {
				return writeJSON(c.App.Writer, v)
			}
			fmt.Fprintf(c.App.Writer, "apimtls %s\ncommit %s\n", v.Version, v.Commit)
			fmt.Fprintf(c.App.Writer, "built %s\n", v.Date)
			fmt.Fprintf(c.App.Writer, "%s %s\n", v.GoVersion, v.Platform)
			return nil
		},
	}
}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "SHELL",
		Description: `Completes commands and flags, and the values the binary knows: CA and
client names from the PKI directory in effect (--dir, APIMTLS_DIR or the
profile's dir), key types, the words of --status, --reason, --output and
--format, the profile's keys (config set|get|unset) and contexts (--context).
The script asks the binary for those as you type (apimtls __complete), which
reads the inventory without waiting: a PKI directory another apimtls process
is using completes no names until it is free. Install it once:

   bash:  apimtls completion bash > ~/.local/share/bash-completion/completions/apimtls
   zsh:   apimtls completion zsh > "${fpath[1]}/_apimtls"
   fish:  apimtls completion fish > ~/.config/fish/completions/apimtls.fish

Example:
   source <(apimtls completion bash)`,
		Action: func(c *cli.Context) error {
			shell, err := oneArg(c, "SHELL")
			if err != nil {
				return err
			}
			app := newApp(c.App.Writer, c.App.ErrWriter)
			var script string
			switch shell {
			case "bash":
				script = bashCompletion(app)
			case "zsh":
				script = "#compdef apimtls\nautoload -U +X bashcompinit && bashcompinit\n" + bashCompletion(app)
			case "fish":
				s, err := app.ToFishCompletion()
				if err != nil {
					return err
				}
				script = s + fishValues(app)
			default:
				return usagef("unknown shell %q: use bash, zsh or fish", shell)
			}
			_, err = fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

// bashCompletion writes a static completion function from the command
// tree: subcommands after a command path, that command's flags after "-".
func bashCompletion(app *cli.App) string {
	subs := map[string][]string{}
	flags := map[string][]string{}
	var walk func(path string, cmds []*cli.Command, fl []cli.Flag)
	walk = func(path string, cmds []*cli.Command, fl []cli.Flag) {
		for _, f := range fl {
			for _, n := range f.Names() {
				if len(n) == 1 {
					flags[path] = append(flags[path], "-"+n)
				} else {
					flags[path] = append(flags[path], "--"+n)
				}
			}
		}
		flags[path] = append(flags[path], "--help")
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			subs[path] = append(subs[path], c.Name)
			walk(strings.TrimSpace(path+" "+c.Name), c.Subcommands, c.Flags)
		}
	}
	walk("", app.Commands, app.Flags)
	var b strings.Builder
	b.WriteString("# apimtls completion for bash (and zsh through bashcompinit)\n")
	cases := func(fn string, m map[string][]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "%s() {\n\tcase \"$1\" in\n", fn)
		for _, k := range keys {
			fmt.Fprintf(&b, "\t\"%s\") echo \"%s\" ;;\n", k, strings.Join(m[k], " "))
		}
		b.WriteString("\tesac\n}\n")
	}
	cases("__apimtls_subcommands", subs)
	cases("__apimtls_flags", flags)
	// cmds, not path: zsh (bashcompinit) ties $path to $PATH.
	b.WriteString(`_apimtls() {
	local cur="${COMP_WORDS[COMP_CWORD]}" cmds="" w i
	for ((i = 1; i < COMP_CWORD; i++)); do
		w="${COMP_WORDS[i]}"
		[[ "$w" == -* ]] && continue
		case " $(__apimtls_subcommands "$cmds") " in
		*" $w "*) cmds="${cmds:+$cmds }$w" ;;
		esac
	done
	if [[ "$cur" == -* && "$cur" != *=* ]]; then
		COMPREPLY=($(compgen -W "$(__apimtls_flags "$cmds")" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -W "$(__apimtls_subcommands "$cmds")" -- "$cur"))
	# The values (names from the inventory, a flag's words) come from the
	# binary, one a line; where "=" breaks words (COMP_WORDBREAKS),
	# readline replaces only what follows it: the "--flag=" goes.
	local IFS=$'\n' values
	values=($("${COMP_WORDS[0]}" __complete -- "${COMP_WORDS[@]:1:$COMP_CWORD}" 2>/dev/null))
	if [[ "$cur" == "=" || "${COMP_WORDS[COMP_CWORD-1]}" == "=" ]]; then
		values=("${values[@]#*=}")
	fi
	COMPREPLY+=("${values[@]}")
}
complete -o default -F _apimtls apimtls
`)
	return b.String()
}

// fishValues completes values through the binary (apimtls __complete),
// beside the commands and flags urfave/cli's fish script completes: the
// positional arguments, and each flag whose value it knows, which fish
// completes from that flag's own list only. Fish puts back the "--flag="
// of a --flag=value itself.
func fishValues(app *cli.App) string {
	var b strings.Builder
	b.WriteString(`
function __fish_apimtls_values --description 'Values the binary knows: CA and client names, a flag\'s words'
    set -l words (commandline -opc) (commandline -ct)
    command $words[1] __complete -- $words[2..-1] 2>/dev/null | string replace -r '^-[^=]*=' ''
end
complete -c apimtls -f -a '(__fish_apimtls_values)'
`)
	seen := map[string]bool{}
	var walk func(cmds []*cli.Command, fl []cli.Flag)
	walk = func(cmds []*cli.Command, fl []cli.Flag) {
		for _, f := range fl {
			names := f.Names()
			if _, ok := flagValues[names[0]]; !ok || seen[names[0]] {
				continue
			}
			seen[names[0]] = true
			fmt.Fprintf(&b, "complete -c apimtls -l %s", names[0])
			for _, n := range names[1:] {
				if len(n) == 1 {
					fmt.Fprintf(&b, " -s %s", n)
				}
			}
			b.WriteString(" -x -a '(__fish_apimtls_values)'\n")
		}
		for _, c := range cmds {
			walk(c.Subcommands, c.Flags)
		}
	}
	walk(app.Commands, app.Flags)
	return b.String()
}
