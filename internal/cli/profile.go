package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/profile"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/sharedstore"
)

// The profile (docs/config.md): settings a command reads when neither its
// flag nor the environment gives them. Precedence is flag > environment >
// profile > default, decided in resolve and nowhere else.

// profileKey is a setting the profile may hold.
type profileKey struct {
	name  string // the key, and the flag it fills
	usage string
	// env are the variables that beat the profile: the flag's own, or the
	// AWS SDK's for the same setting. envPrefix is a family of them: the
	// SDK's per-service endpoints, any of which leaves the profile's
	// endpoint aside, so that endpoints are never half from each.
	env       []string
	envPrefix string
	// commands read it; nil: every command with the flag.
	commands []string
	// flags names the flag it fills where that is not name.
	flags map[string]string
	// arg: the positional argument of the commands whose ArgsUsage it is,
	// when the command line gives none.
	arg   string
	check func(string) error
}

var profileKeys = []profileKey{
	{name: flagBucket, usage: "the S3 bucket of the truststore and the CRLs (--bucket)", check: s3store.CheckBucketName},
	{name: flagRegion, usage: "the AWS Region (--region; AWS_REGION wins)", env: []string{"AWS_REGION", "AWS_DEFAULT_REGION"}, check: checkRegion},
	{name: flagEndpointURL, usage: "an endpoint for LocalStack-style targets (--endpoint-url; AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> win)", env: []string{"AWS_ENDPOINT_URL"}, envPrefix: "AWS_ENDPOINT_URL_", check: checkEndpoint},
	{name: flagDomain, usage: "the custom domain (--domain, and the DOMAIN of the domain commands)", arg: "DOMAIN", check: checkDomain},
	{name: flagAPIID, usage: "the API behind the domain (--api-id, and the API_ID of api disable-default-endpoint)", arg: "API_ID", check: checkAPIID},
	{name: flagStore, usage: "the shared store, s3://BUCKET/PREFIX (--store, store migrate --to; " + envStore + " wins)", env: []string{envStore}, flags: map[string]string{"store migrate": flagTo}, check: checkStore},
	{name: flagCA, usage: "the issuing CA of client issue and client sign (--ca)", commands: []string{"client issue", "client sign"}, check: pki.CheckName},
	{name: flagDir, usage: "the PKI directory (--dir; " + envDir + " wins)", env: []string{envDir}, check: checkAbsolute},
}

func profileSchema() []profile.Key {
	keys := make([]profile.Key, len(profileKeys))
	for i, k := range profileKeys {
		keys[i] = profile.Key{Name: k.name, Check: k.check}
	}
	return keys
}

// flagIn is the flag k fills in the command at path, "" when it fills none.
func (k profileKey) flagIn(path string, cmd *cli.Command) string {
	if k.commands != nil && !slices.Contains(k.commands, path) {
		return ""
	}
	name := k.name
	if n, ok := k.flags[path]; ok {
		name = n
	}
	for _, f := range cmd.Flags {
		if slices.Contains(f.Names(), name) {
			return name
		}
	}
	return ""
}

// Where a value came from, as config list --show-origin says.
const (
	originFlag    = "flag"
	originEnv     = "env"
	originProfile = "profile"
	originDefault = "default"
)

type origin struct {
	Kind string `json:"origin"`
	From string `json:"from,omitempty"` // --bucket, AWS_REGION, FILE:CONTEXT
}

func (o origin) String() string { return strings.TrimSpace(o.Kind + " " + o.From) }

// resolve is the one precedence: the flag as typed (args, reordered), else
// the first environment variable set, else the profile, else nothing (the
// command's own default).
func resolve(k profileKey, flag string, args []string, environ []string, settings map[string]profile.Setting, where string) (string, origin) {
	if flag != "" {
		if v, ok := typedValue(args, flag); ok {
			return v, origin{originFlag, "--" + flag}
		}
	}
	for _, name := range k.env {
		if v := lookupEnv(environ, name); v != "" {
			return v, origin{originEnv, name}
		}
	}
	if k.envPrefix != "" {
		for _, kv := range environ {
			if name, v, _ := strings.Cut(kv, "="); strings.HasPrefix(name, k.envPrefix) && v != "" {
				return v, origin{originEnv, name}
			}
		}
	}
	if s, ok := settings[k.name]; ok {
		return s.Value, origin{originProfile, where}
	}
	return "", origin{Kind: originDefault}
}

func lookupEnv(environ []string, name string) string {
	for i := len(environ) - 1; i >= 0; i-- { // the last one wins, as in os.Getenv
		if n, v, _ := strings.Cut(environ[i], "="); n == name {
			return v
		}
	}
	return ""
}

// typedValue is the value of --name (or -name) on a command line, before
// any "--".
func typedValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, p := range []string{"--" + name, "-" + name} {
			if a == p && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// profileContext is the context chosen: --context, else APIMTLS_CONTEXT,
// else "default".
func profileContext(args, environ []string) (string, origin) {
	if v, ok := typedValue(args, flagContext); ok {
		return v, origin{originFlag, "--" + flagContext}
	}
	if v := lookupEnv(environ, envContext); v != "" {
		return v, origin{originEnv, envContext}
	}
	return profile.DefaultContext, origin{Kind: originDefault}
}

// loadedProfile is the profile file and the context a command reads.
type loadedProfile struct {
	file     *profile.File
	context  string
	origin   origin
	settings map[string]profile.Setting // nil when the context is new (config set)
}

func (p *loadedProfile) where() string { return p.file.Path + ":" + p.context }

// loadProfile reads the profile and the chosen context; an unknown context
// is refused naming those there are, unless newOK (config set makes it).
func loadProfile(args []string, stderr io.Writer, noColor, newOK bool) (*loadedProfile, error) {
	path, err := profile.Path()
	if err != nil {
		return nil, err
	}
	f, err := profile.Read(path, profileSchema())
	if err != nil {
		return nil, withHint(err, "fix it (docs/config.md), or move it aside to start again")
	}
	if f.Mode&0o022 != 0 {
		printWarning(stderr, fmt.Sprintf("%s is writable by others (mode %04o): anyone who can edit it chooses your bucket and endpoint; chmod 600 it", path, f.Mode), noColor)
	}
	lp := &loadedProfile{file: f}
	lp.context, lp.origin = profileContext(args, os.Environ())
	if err := profile.CheckContextName(lp.context); err != nil {
		return nil, usageError{err}
	}
	lp.settings, err = f.Settings(lp.context)
	var uc *profile.UnknownContextError
	if errors.As(err, &uc) {
		if newOK {
			return lp, nil
		}
		return nil, withHint(usageError{err}, "create it: apimtls config set --context "+lp.context+" KEY VALUE")
	}
	return lp, err
}

// fillFromProfile gives the command the profile's value of each setting it
// takes that neither its command line nor the environment gives, as if
// typed: urfave/cli's required flags and every action then see it, with no
// command knowing of the profile. The config commands read the file
// themselves; help never fails on it.
func fillFromProfile(app *cli.App, args []string, stderr io.Writer) ([]string, error) {
	path, leaf := leafOf(app, args)
	if leaf == nil || strings.HasPrefix(path, "config ") || path == "version" || path == "completion" || hasFlag(args, "help") || hasFlag(args, "h") {
		return args, nil
	}
	p, err := loadProfile(args, stderr, hasFlag(args, flagNoColor), false)
	if err != nil {
		return nil, err
	}
	flags, positional := args, []string(nil)
	if i := slices.Index(args, "--"); i >= 0 {
		flags, positional = args[:i], args[i+1:]
	}
	flags = slices.Clip(flags)
	environ := os.Environ()
	for _, k := range profileKeys {
		if flag := k.flagIn(path, leaf); flag != "" {
			if v, o := resolve(k, flag, flags, environ, p.settings, p.where()); o.Kind == originProfile {
				flags = append(flags, "--"+flag+"="+v)
			}
		}
		if k.arg != "" && leaf.ArgsUsage == k.arg && len(positional) == 0 {
			if s, ok := p.settings[k.name]; ok {
				positional = []string{s.Value}
			}
		}
	}
	if len(positional) > 0 {
		flags = append(append(flags, "--"), positional...)
	}
	return flags, nil
}

// profileValue is what the profile's context in effect holds for key, ""
// when it holds nothing (or does not read: the command ran, so that is
// not this hint's business). For the next steps a command prints, so that
// they never ask for what the profile gives.
func profileValue(c *cli.Context, key string) string {
	args, _ := c.App.Metadata[metaArgs].([]string)
	p, err := loadProfile(args, io.Discard, true, false)
	if err != nil {
		return ""
	}
	return p.settings[key].Value
}

// requiredFlags is how urfave/cli names the required flags not given.
var requiredFlags = regexp.MustCompile(`^Required flags? "([^"]+)" not set`)

// requiredFromProfile adds to a missing required flag that the profile
// could hold the way to set it once.
func requiredFromProfile(err error) error {
	m := requiredFlags.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	var hints []string
	for _, name := range strings.Split(m[1], ", ") {
		if slices.ContainsFunc(profileKeys, func(k profileKey) bool { return k.name == name }) {
			hints = append(hints, "give --"+name+", or set it once for every command: apimtls config set "+name+" VALUE")
		}
	}
	if len(hints) == 0 {
		return err
	}
	return withHint(err, hints...)
}

// leafOf is the command that args (reordered) run, and its path, such as
// "truststore push"; nil for a group, help or an unknown command.
func leafOf(app *cli.App, args []string) (string, *cli.Command) {
	var names []string
	cmds := app.Commands
	for _, a := range args[min(1, len(args)):] {
		c := findCommand(cmds, a)
		if c == nil {
			return "", nil
		}
		names = append(names, c.Name)
		if len(c.Subcommands) == 0 {
			return strings.Join(names, " "), c
		}
		cmds = c.Subcommands
	}
	return "", nil
}

// The checks of the profile's values: what the flags would refuse later
// is refused when it is set, naming the value.

var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

func checkRegion(v string) error {
	if !regionPattern.MatchString(v) {
		return fmt.Errorf("%q is not an AWS Region: such as eu-west-1 or us-gov-west-1", v)
	}
	return nil
}

func checkEndpoint(v string) error {
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("%q is not an endpoint: give http(s)://HOST[:PORT], such as http://127.0.0.1:9000", v)
	case u.User != nil:
		return fmt.Errorf("%q holds a user name or password: the profile holds no secrets", v)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q has a query or fragment: give http(s)://HOST[:PORT]", v)
	}
	return nil
}

var domainLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func checkDomain(v string) error {
	labels := strings.Split(strings.TrimPrefix(v, "*."), ".")
	bad := len(labels) < 2 || len(v) > 253
	for _, l := range labels {
		bad = bad || !domainLabel.MatchString(l)
	}
	if bad {
		return fmt.Errorf("%q is not a domain name: lowercase, such as api.example.com", v)
	}
	return nil
}

var apiIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,127}$`)

func checkAPIID(v string) error {
	if !apiIDPattern.MatchString(v) {
		return fmt.Errorf("%q is not an API ID: lowercase letters and digits, such as a1b2c3d4e5", v)
	}
	return nil
}

func checkStore(v string) error {
	if _, _, err := sharedstore.ParseURI(v); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "store "))
	}
	return nil
}

func checkAbsolute(v string) error {
	if !filepath.IsAbs(v) {
		return fmt.Errorf("%q is relative: give an absolute path, the profile being read from any folder", v)
	}
	return nil
}
