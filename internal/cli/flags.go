package cli

import (
	"time"

	"github.com/urfave/cli/v2"
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
