package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/apigw"
)

const flagAllStages = "all-stages"

func apiCommand() *cli.Command {
	return &cli.Command{
		Name:  "api",
		Usage: "the APIs behind a domain",
		Subcommands: []*cli.Command{{
			Name:      "disable-default-endpoint",
			Usage:     "close the execute-api endpoint that bypasses mTLS, and redeploy the stages you choose",
			ArgsUsage: "API_ID",
			Description: `Turns the API's default execute-api endpoint off (HTTP APIs: UpdateApi with
DisableExecuteApiEndpoint; REST APIs: the patch replace /disableExecuteApiEndpoint
True). The change reaches a stage only with a new deployment (HTTP API stages
with auto-deploy take it by themselves), and a deployment publishes the API's
current working definition to that stage: every change not yet deployed
there goes live with it. So apimtls first shows each stage, the deployment it
serves and whether that deployment already has the endpoint closed, and
deploys only the stages you name with --stage (repeatable) or all of them
with --all-stages. Without either, it shows the plan and changes nothing.

Deployments are spaced by API Gateway's quota (one per 5 seconds per
account). A run cut short (throttling, Ctrl-C) is finished by running the
same command again: stages still serving a deployment from before the
change are found and deployed.

Example:
   apimtls api disable-default-endpoint a1b2c3d4e5 --dry-run
   apimtls api disable-default-endpoint a1b2c3d4e5 --stage prod --stage staging
   apimtls api disable-default-endpoint a1b2c3d4e5 --api-type rest --all-stages`,
			Flags: append(awsBaseFlags(), dryRunFlag(),
				&cli.StringSliceFlag{Name: flagStage, Usage: "deploy this stage (repeatable)"},
				&cli.BoolFlag{Name: flagAllStages, Usage: "deploy every stage that still serves the default endpoint"}),
			Action: disableDefaultEndpoint,
		}},
	}
}

func disableDefaultEndpoint(c *cli.Context) error {
	format, id, err := startOneArg(c, "API_ID")
	if err != nil {
		return err
	}
	t, err := apiType(c)
	if err != nil {
		return err
	}
	if c.Bool(flagAllStages) && len(c.StringSlice(flagStage)) > 0 {
		return usagef("--%s and --%s exclude each other", flagStage, flagAllStages)
	}
	client, err := apigwClient(c.Context, c)
	if err != nil {
		return err
	}
	if t == apigw.Auto {
		if t, err = client.DetectAPI(c.Context, id); err != nil {
			return domainError(err)
		}
	}
	plan, err := client.PlanDefaultEndpoint(c.Context, id, t)
	if err != nil {
		return domainError(err)
	}
	chosen, all := c.StringSlice(flagStage), c.Bool(flagAllStages)
	if c.Bool(flagDryRun) || (!all && len(chosen) == 0 && len(plan.NeedDeployment()) > 0) {
		return reportEndpointPlan(c, format, plan)
	}
	res, err := client.DisableDefaultEndpoint(c.Context, plan, chosen, all, newProgress(c, format).Wait)
	if res == nil {
		return domainError(err)
	}
	if format == outputJSON {
		if jerr := writeJSON(c.App.Writer, res); jerr != nil {
			return jerr
		}
	} else {
		domain := profileValue(c, flagDomain)
		region := "REGION"
		if cfg, err := awsConfig(c.Context, c); err == nil {
			region = cfg.Region
		}
		printDisabled(c.App.Writer, res, domain, region)
	}
	if err != nil {
		return domainError(err)
	}
	if len(res.Pending) > 0 {
		return withHint(fmt.Errorf("stages of %s still serving the default endpoint: %s", id, strings.Join(res.Pending, ", ")), "deploy them with --stage NAME or --all-stages once their undeployed changes may go live")
	}
	return nil
}

// reportEndpointPlan prints the stages and what a deployment would do;
// without a choice of stages it is an error, so nothing is taken as done.
func reportEndpointPlan(c *cli.Context, format string, plan *apigw.EndpointPlan) error {
	if format == outputJSON {
		if err := writeJSON(c.App.Writer, plan); err != nil {
			return err
		}
	} else {
		printEndpointPlan(c.App.Writer, plan)
	}
	need := plan.NeedDeployment()
	if c.Bool(flagDryRun) || len(need) == 0 {
		return nil
	}
	return withHint(errors.New("nothing was changed: choose the stages to deploy"),
		"a deployment publishes the API's current working definition to the stage, changes not yet deployed there included; then run again with --stage "+strings.Join(need, " --stage ")+", or --all-stages")
}

func printEndpointPlan(w io.Writer, plan *apigw.EndpointPlan) {
	state := "on"
	if !plan.Enabled {
		state = "off"
	}
	fmt.Fprintf(w, "%s API %s: default endpoint flag %s\n", plan.APIType, plan.APIID, state)
	t := newTable(w, "STAGE", "DEPLOYMENT", "DEPLOYED", "API CHANGED SINCE", "EXECUTE-API")
	for _, s := range plan.Stages {
		at, dep, live := "-", orNone(s.DeploymentID), "still served: needs a deployment"
		if s.DeployedAt != nil {
			at = s.DeployedAt.UTC().Format("2006-01-02 15:04:05")
		}
		switch {
		case s.AutoDeploy:
			live, dep = "auto-deploy: closes by itself", "auto"
		case s.Closed:
			live = "closed"
		}
		changed := "-"
		if s.Changed != nil {
			changed = map[bool]string{true: "yes: a redeploy publishes it", false: "no"}[*s.Changed]
		}
		t.row(s.Name, dep, at, changed, live)
	}
	_ = t.flush()
}

// printDisabled says what changed, and the probe to prove it: of the
// profile's domain when it has one, in the command's Region.
func printDisabled(w io.Writer, res *apigw.DisableResult, domain, region string) {
	if domain == "" {
		domain = "YOUR-DOMAIN"
	}
	switch {
	case res.AlreadyClosed:
		fmt.Fprintf(w, "the default endpoint of %s API %s is off already, and every stage serves a deployment made since: nothing to change\n", res.APIType, res.APIID)
		return
	case res.WasEnabled:
		fmt.Fprintf(w, "disabled the default endpoint of %s API %s\n", res.APIType, res.APIID)
	}
	if len(res.Redeployed) > 0 {
		fmt.Fprintf(w, "redeployed stages: %s\n", strings.Join(res.Redeployed, ", "))
	} else {
		fmt.Fprintln(w, res.Deployments())
	}
	if len(res.AutoDeployed) > 0 {
		fmt.Fprintf(w, "auto-deployed stages (no deployment needed): %s\n", strings.Join(res.AutoDeployed, ", "))
	}
	if len(res.Pending) == 0 {
		fmt.Fprintln(w, "next: apimtls probe https://"+domain+"/ --client NAME --default-endpoint https://"+res.APIID+".execute-api."+region+".amazonaws.com/")
	}
}
