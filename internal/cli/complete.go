package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/profile"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/x509cert"
)

// Completion of values (docs/config.md, "Shell completion"): the scripts
// that apimtls completion prints complete commands and flags from the
// command tree they were generated from, and ask the binary itself for
// the values of the word being typed:
//
//	apimtls __complete -- WORDS...
//
// prints one candidate per line for the last of WORDS (the command line
// after "apimtls", the word being typed last, possibly empty). It reads the
// inventory read-only, waits for no lock (a PKI directory another process
// holds, or one with interrupted work to recover, completes nothing), never
// reaches the network, prints nothing but names and fixed words, and exits
// 0 whatever happens: a completion that fails prints nothing.

// completeCommandName is the hidden entry point the scripts call back.
const completeCommandName = "__complete"

// valueKind is what a flag's value or a positional argument is.
type valueKind int

const (
	valuesNone   valueKind = iota
	valuesCA               // a CA of the inventory
	valuesClient           // a client of the inventory
	valuesKeyType
	valuesStatus
	valuesReason
	valuesOutput
	valuesFormat
	valuesProfileKey
	valuesContext
	valuesShell
	valuesBucket // the buckets the profile's contexts name
)

// argValues says what the positional arguments of a command are, where
// they name something that completes. many: every argument is one (NAME...);
// else only the first. A command missing here takes a new name, a file or
// a URL, which the shell completes as files (-o default).
var argValues = map[string]struct {
	kind valueKind
	many bool
}{
	"ca show":       {kind: valuesCA},
	"ca revoke":     {kind: valuesCA},
	"ca crl":        {kind: valuesCA},
	"rotate ca":     {kind: valuesCA},
	"rotate status": {kind: valuesCA},
	"client show":   {kind: valuesClient},
	"client renew":  {kind: valuesClient},
	"client revoke": {kind: valuesClient},
	"client export": {kind: valuesClient, many: true},
	"client list":   {kind: valuesClient, many: true},
	"config get":    {kind: valuesProfileKey},
	"config set":    {kind: valuesProfileKey},
	"config unset":  {kind: valuesProfileKey},
	"completion":    {kind: valuesShell},
}

// flagValues says what the value of a flag is, by the flag's name: a flag
// name means the same thing in every command that has it (flags.go).
var flagValues = map[string]valueKind{
	flagCA:      valuesCA,
	flagParent:  valuesCA,
	flagClient:  valuesClient,
	flagKeyType: valuesKeyType,
	flagStatus:  valuesStatus,
	flagReason:  valuesReason,
	flagOutput:  valuesOutput,
	flagFormat:  valuesFormat,
	flagContext: valuesContext,
	flagBucket:  valuesBucket,
}

// flagValuesIn overrides flagValues in one command: "PATH --NAME".
var flagValuesIn = map[string]valueKind{
	"setup --" + flagSetupClient: valuesNone, // the clients setup issues: new names
}

// runComplete is apimtls __complete: args are the words after it.
func runComplete(args []string, stdout io.Writer) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	for _, c := range completeWords(newApp(io.Discard, io.Discard), args, os.Environ()) {
		fmt.Fprintln(stdout, c)
	}
	return exitOK
}

// completion is where a command line stands: the command typed so far,
// what the last word is, and the settings typed that change what the
// inventory is.
type completion struct {
	path    string
	leaf    *cli.Command
	kind    valueKind
	prefix  string // given back before each candidate: "--ca=" of --ca=ro
	cur     string
	typed   []string // the words before the last, for --dir, --store, --context
	environ []string

	profile     *profile.File // read once, by profileFile
	profileRead bool
}

// completeWords returns the candidates for the last of words.
func completeWords(app *cli.App, words, environ []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cp := locate(app, joinEquals(words))
	cp.environ = environ
	var out []string
	for _, v := range cp.values() {
		if strings.HasPrefix(v, cp.cur) {
			out = append(out, cp.prefix+v)
		}
	}
	return out
}

// joinEquals puts back together the "--flag=value" that bash split at
// "=" (COMP_WORDBREAKS): "--ca", "=", "ro" is "--ca=ro".
func joinEquals(words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		n := len(out)
		if words[i] == "=" && n > 0 && strings.HasPrefix(out[n-1], "-") && !strings.Contains(out[n-1], "=") {
			out[n-1] += "="
			if i+1 < len(words) {
				out[n-1] += words[i+1]
				i++
			}
			continue
		}
		out = append(out, words[i])
	}
	return out
}

// locate walks the words before the last as urfave/cli will parse them:
// command names, flags (and the value of a flag that takes one) and
// positional arguments; then decides what the last word is.
func locate(app *cli.App, words []string) *completion {
	cp := &completion{typed: words[:len(words)-1], cur: words[len(words)-1]}
	cmds, flags := app.Commands, app.Flags
	takesValue := flagArity(flags)
	var names []string
	positional, pendingFlag, onlyArgs := 0, "", false
	for _, w := range cp.typed {
		switch {
		case pendingFlag != "":
			pendingFlag = ""
		case w == "--" && !onlyArgs:
			onlyArgs = true
		case !onlyArgs && strings.HasPrefix(w, "-") && w != "-":
			if name := strings.TrimLeft(w, "-"); !strings.Contains(name, "=") && takesValue[name] {
				pendingFlag = name
			}
		case cp.leaf == nil && findCommand(cmds, w) != nil:
			c := findCommand(cmds, w)
			names = append(names, c.Name)
			if len(c.Subcommands) == 0 {
				cp.leaf = c
				for k, v := range flagArity(c.Flags) {
					takesValue[k] = v
				}
			}
			cmds = c.Subcommands
		default:
			positional++
		}
	}
	cp.path = strings.Join(names, " ")
	switch {
	case pendingFlag != "":
		cp.kind = flagKind(cp.path, cp.leaf, pendingFlag)
	case !onlyArgs && strings.HasPrefix(cp.cur, "-"):
		if name, v, ok := strings.Cut(strings.TrimLeft(cp.cur, "-"), "="); ok {
			cp.kind, cp.prefix, cp.cur = flagKind(cp.path, cp.leaf, name), cp.cur[:len(cp.cur)-len(v)], v
		}
	case cp.leaf != nil:
		if a, ok := argValues[cp.path]; ok && (a.many || positional == 0) {
			cp.kind = a.kind
		}
	}
	return cp
}

// flagKind is what --name's value is in the command leaf (nil: before
// any command, where the global flags are).
func flagKind(path string, leaf *cli.Command, name string) valueKind {
	fl := globalFlags()
	if leaf != nil {
		fl = leaf.Flags
	}
	for _, f := range fl {
		if slices.Contains(f.Names(), name) {
			if k, ok := flagValuesIn[path+" --"+f.Names()[0]]; ok {
				return k
			}
			return flagValues[f.Names()[0]]
		}
	}
	return valuesNone
}

// values are the candidates of the kind, unfiltered.
func (cp *completion) values() []string {
	switch cp.kind {
	case valuesCA, valuesClient:
		return cp.inventoryNames()
	case valuesKeyType:
		out := make([]string, len(x509cert.KeyTypes))
		for i, k := range x509cert.KeyTypes {
			out[i] = string(k)
		}
		return out
	case valuesStatus:
		return sortedKeys(statusFilter)
	case valuesReason:
		return pki.Reasons()
	case valuesOutput:
		return []string{outputText, outputJSON}
	case valuesFormat:
		return []string{"pem", "p12", "tar"}
	case valuesProfileKey:
		return profile.Names(profileSchema())
	case valuesContext:
		if f := cp.profileFile(); f != nil {
			return f.Contexts()
		}
	case valuesShell:
		return []string{"bash", "zsh", "fish"}
	case valuesBucket:
		return cp.profileBuckets()
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// profileFile is the profile, nil when there is none or it does not parse.
func (cp *completion) profileFile() *profile.File {
	if !cp.profileRead {
		cp.profileRead = true
		if path, err := profile.Path(); err == nil {
			cp.profile, _ = profile.Read(path, profileSchema())
		}
	}
	return cp.profile
}

// profileBuckets are the buckets of every context of the profile, sorted
// and once each: the names the user already chose (as gh completes
// repositories), read from the file, never from S3.
func (cp *completion) profileBuckets() []string {
	f := cp.profileFile()
	if f == nil {
		return nil
	}
	var out []string
	for _, context := range f.Contexts() {
		settings, _ := f.Settings(context)
		if s, ok := settings[flagBucket]; ok && s.Value != "" && !slices.Contains(out, s.Value) {
			out = append(out, s.Value)
		}
	}
	sort.Strings(out)
	return out
}

// setting is a setting as a command would resolve it from the words typed,
// the environment and the profile's context (resolve), "" when unset.
func (cp *completion) setting(name string) string {
	i := slices.IndexFunc(profileKeys, func(k profileKey) bool { return k.name == name })
	var settings map[string]profile.Setting
	where := ""
	if f := cp.profileFile(); f != nil {
		context, _ := profileContext(cp.typed, cp.environ)
		settings, _ = f.Settings(context)
		where = f.Path + ":" + context
	}
	v, _ := resolve(profileKeys[i], name, cp.typed, cp.environ, settings, where)
	return v
}

// inventoryNames are the names of the CAs or clients of the PKI directory
// in effect; none for a shared store (its inventory is in S3, and
// completion never waits on the network) or a directory in use.
func (cp *completion) inventoryNames() []string {
	if cp.setting(flagStore) != "" {
		return nil
	}
	dir, err := cp.pkiDir()
	if err != nil || pendingWorkIn(dir) {
		return nil // recovering it needs the write lock: leave it to a command
	}
	release, ok := holdInventoryShared(pki.Layout{Dir: dir}.Inventory())
	if !ok {
		return nil
	}
	defer release()
	s, err := pki.OpenStore(dir, false)
	if err != nil {
		return nil
	}
	defer s.Close()
	wantClients, check := cp.kind == valuesClient, pki.CheckName
	if wantClients {
		check = pki.CheckClientName
	}
	briefs, err := s.ListBrief(func(b *pki.Brief) bool {
		return (b.Kind == pki.KindClient) == wantClients && strings.HasPrefix(b.Name, cp.cur)
	})
	if err != nil {
		return nil
	}
	var out []string
	for _, b := range briefs {
		// A name that is not a valid name (an inventory edited by
		// hand) never reaches the shell, which would read it as code.
		if check(b.Name) == nil {
			out = append(out, b.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out) // a renewed client is listed once
}

// pkiDir is the PKI directory as the command would resolve it (pkiDir).
func (cp *completion) pkiDir() (string, error) {
	set := flag.NewFlagSet(completeCommandName, flag.ContinueOnError)
	set.String(flagDir, cp.setting(flagDir), "")
	return pkiDir(cli.NewContext(nil, set, nil))
}

// pendingWorkIn reports whether dir holds interrupted work, which opening
// it would recover under the write lock.
func pendingWorkIn(dir string) bool {
	entries, err := os.ReadDir(pki.Layout{Dir: dir}.Staging())
	return err == nil && len(entries) > 0
}

// holdInventoryShared takes a shared lock on the inventory without waiting
// and holds it until release: the store opened meanwhile finds its own
// shared lock free at once. ok is false when a writer holds it. A missing
// inventory is an empty one: ok, nothing to hold.
func holdInventoryShared(path string) (release func(), ok bool) {
	f, err := os.Open(filepath.Clean(path))
	if os.IsNotExist(err) {
		return func() {}, true
	}
	if err != nil {
		return nil, false
	}
	if !tryLockShared(f) {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}
