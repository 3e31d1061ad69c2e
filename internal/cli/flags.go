package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/x509cert"
)

// The names of the flags that several commands share, in one place; a
// flag that one command alone has is named beside that command.
const (
	flagAPIID          = "api-id"
	flagBucket         = "bucket"
	flagCA             = "ca"
	flagCN             = "cn"
	flagCRLDir         = "crl-dir"
	flagCSRDir         = "csr-dir"
	flagCertificateArn = "certificate-arn"
	// flagContext picks the profile's context; not --profile, which the
	// AWS CLI (and AWS_PROFILE) already use for AWS's own profiles.
	flagContext        = "context"
	flagCount          = "count"
	flagCreateBucket   = "create-bucket"
	flagDNS            = "dns"
	flagDays           = "days"
	flagDir            = "dir"
	flagDomain         = "domain"
	flagDryRun         = "dry-run"
	flagEmail          = "email"
	flagEncrypt        = "encrypt"
	flagEndpointURL    = "endpoint-url"
	flagExpiringWithin = "expiring-within"
	// flagExternalRevocation is serve's APIMTLS_EXTERNAL_REVOCATION.
	flagExternalRevocation = "external-revocation"
	flagFailFast           = "fail-fast"
	flagForce              = "force"
	flagFromCSV            = "from-csv"
	flagKey                = "key"
	flagKeyType            = "key-type"
	flagMaxPathLen         = "max-path-len"
	flagName               = "name"
	flagNameTemplate       = "name-template"
	flagNoRevocation       = "no-revocation"
	flagOrg                = "org"
	flagOut                = "out"
	flagOutput             = "output"
	flagP12Legacy          = "p12-legacy"
	flagP12PasswordFile    = "p12-password-file"
	flagPassphraseFile     = "passphrase-file"
	flagPollInterval       = "poll-interval"
	flagPrefix             = "prefix"
	flagRegion             = "region"
	flagStage              = "stage"
	flagStart              = "start"
	// flagStore selects a shared store for every PKI command.
	flagStore             = "store"
	flagTruststore        = "truststore"
	flagTruststoreVersion = "truststore-version"
	flagURI               = "uri"
	flagWaitTimeout       = "timeout"
	flagZip               = "zip"
)

// Every number and duration a user types is range-checked at its flag, so
// that an overflow or a typo is a usage error naming the flag and the
// accepted range (exit 2), never a silently changed value.

// intIn is an IntFlag Action that accepts only min..max.
func intIn(name string, min, max int) func(*cli.Context, int) error {
	return func(_ *cli.Context, v int) error {
		if v < min || v > max {
			return usagef("--%s %d is out of range: use %d to %d", name, v, min, max)
		}
		return nil
	}
}

// durationIn is a DurationFlag Action that accepts only min..max.
func durationIn(name string, min, max time.Duration) func(*cli.Context, time.Duration) error {
	return func(_ *cli.Context, v time.Duration) error {
		if v < min || v > max {
			return usagef("--%s %s is out of range: use %s to %s", name, v, min, max)
		}
		return nil
	}
}

// daysDurationIn is a StringFlag Action for a duration in days, weeks or hours
// (parseDays), accepting 0 to max.
func daysDurationIn(name string) func(*cli.Context, string) error {
	const max = time.Duration(x509cert.MaxDays) * 24 * time.Hour
	return func(_ *cli.Context, v string) error {
		d, err := parseDays(v)
		if err != nil {
			return usagef("--%s: %v", name, err)
		}
		if d > max {
			return usagef("--%s %s is out of range: use 0d to %dd", name, v, x509cert.MaxDays)
		}
		return nil
	}
}

// daysFlag is --days, range-checked to 1..x509cert.MaxDays at the flag.
func daysFlag(usage string, def int, defText string) cli.Flag {
	return &cli.IntFlag{Name: flagDays, Value: def, Usage: usage, DefaultText: defText, Action: intIn(flagDays, 1, x509cert.MaxDays)}
}

// maxPathLenFlag is --max-path-len: 0 to the most API Gateway's CA levels
// allow; the parent's own limit is pki's to check.
func maxPathLenFlag(usage, defText string) cli.Flag {
	return &cli.IntFlag{Name: flagMaxPathLen, Value: -1, Usage: usage, DefaultText: defText, Action: intIn(flagMaxPathLen, 0, x509cert.MaxCALevels-1)}
}

// parseDays reads a duration that may also be in days (30d) or weeks (2w).
func parseDays(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid duration %q: use days (30d), weeks (2w) or hours (720h)", s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 {
			return 0, bad
		}
		return daysToDuration(d), nil
	}
	if n, ok := strings.CutSuffix(s, "w"); ok {
		w, err := strconv.Atoi(n)
		if err != nil || w < 0 || w > math.MaxInt/7 {
			return 0, bad
		}
		return daysToDuration(w * 7), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, bad
	}
	return d, nil
}

// daysToDuration converts days, saturating where time.Duration ends (about
// 292 years) instead of wrapping into the past, so range checks see it.
func daysToDuration(days int) time.Duration {
	if days > int(math.MaxInt64/int64(24*time.Hour)) {
		return math.MaxInt64
	}
	return time.Duration(days) * 24 * time.Hour
}
