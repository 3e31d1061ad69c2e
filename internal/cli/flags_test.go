package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// TestRangeFlags runs a command with range-checked flags through Run's
// exit-code mapping: out of range is a usage error naming the flag.
func TestRangeFlags(t *testing.T) {
	app := &cli.App{Name: "t", ExitErrHandler: func(*cli.Context, error) {},
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "days", Action: intIn("days", 1, 10)},
			&cli.DurationFlag{Name: "timeout", Action: durationIn("timeout", time.Second, time.Minute)},
		},
		Action: func(*cli.Context) error { return nil },
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--days", "5"}, ""},
		{[]string{"--days", "0"}, "--days 0 is out of range: use 1 to 10"},
		{[]string{"--days", "106752"}, "--days 106752 is out of range"},
		{[]string{"--timeout", "-1s"}, "--timeout -1s is out of range"},
		{[]string{"--timeout", "30s"}, ""},
	} {
		err := app.RunContext(context.Background(), append([]string{"t"}, tc.args...))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		case tc.want != "":
			var buf bytes.Buffer
			printError(&buf, err, true)
			if _, ok := err.(usageError); !ok {
				t.Errorf("%v: %T is not a usage error", tc.args, err)
			}
		}
	}
}
