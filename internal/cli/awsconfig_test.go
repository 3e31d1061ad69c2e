package cli

import (
	"context"
	"flag"
	"testing"

	"github.com/urfave/cli/v2"
)

// A command loads its AWS configuration once, however many clients it
// builds: a second call gets the first one's, even with the environment
// changed in between.
func TestAWSConfigLoadedOncePerCommand(t *testing.T) {
	app := &cli.App{Metadata: map[string]any{}}
	c := cli.NewContext(app, flag.NewFlagSet("x", flag.ContinueOnError), nil)
	t.Setenv("AWS_REGION", "eu-west-1")
	first, err := awsConfig(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_REGION", "us-east-2")
	second, err := awsConfig(context.Background(), c)
	if err != nil || first.Region != "eu-west-1" || second.Region != first.Region {
		t.Fatalf("regions %q then %q (%v): want the first load's both times", first.Region, second.Region, err)
	}
}
