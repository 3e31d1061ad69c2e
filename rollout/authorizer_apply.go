package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/plural"
)

// DeployAuthorizer puts the revocation authorizer in front of an API:
// execution role and its policy, function, invoke permission, authorizer,
// attachment to the chosen routes, deployment of the stages that need it.
// It reads everything first and plans only what differs, so a second run
// changes nothing; a run cut short is finished by the next.
func (r *Rollout) DeployAuthorizer(ctx context.Context, in AuthorizerInput) (*AuthorizerResult, error) {
	if err := checkAuthorizerInput(&in); err != nil {
		return nil, err
	}
	if len(in.Package) == 0 && !in.DryRun {
		return nil, errors.New("no deployment package: give --zip, or build one with apimtls authorizer package")
	}
	o, err := r.observe(ctx, in.APIID, in.APIType, in.FunctionName)
	if err != nil {
		return nil, err
	}
	res := &AuthorizerResult{APIID: in.APIID, APIType: o.t, FunctionName: in.FunctionName, DryRun: in.DryRun, Changes: []Change{}}
	if in.ArchNote != "" {
		res.Notes = append(res.Notes, in.ArchNote)
	}
	if len(in.Package) == 0 {
		res.Notes = append(res.Notes, "no deployment package: the function's code is not compared")
	}
	selected, err := selectRoutes(o.routes, in.Routes)
	if err != nil {
		return nil, err
	}
	p := &planner{r: r, in: in, o: o, res: res}
	p.role()
	p.function()
	p.permission()
	p.authorizer()
	p.attach(selected)
	p.deploy()
	res.Routes = routeStates(p.finalRoutes, p.authID, p.pending)
	if in.DryRun || len(res.Changes) == 0 {
		res.Summary = planSummary(res)
		return res, nil
	}
	if err := p.execute(ctx); err != nil {
		return res, err
	}
	if err := p.readBack(ctx, selected); err != nil {
		return res, err
	}
	res.Summary = fmt.Sprintf("authorizer %s deployed on %s: %s", AuthorizerName, in.APIID, plural.Count(len(res.Changes), "change"))
	return res, nil
}

// execute carries out the planned changes in order, saying each; a
// failure says how far it got, and running the command again finishes.
func (p *planner) execute(ctx context.Context) error {
	res := p.res
	for i := range res.Changes {
		c := &res.Changes[i]
		p.r.events().Note(c.Step + " " + c.Target)
		if err := c.do(ctx); err != nil {
			return fmt.Errorf("%s %s: %w (%d of %d steps done; run the command again to finish)", c.Step, c.Target, err, i, len(res.Changes))
		}
		c.Done, res.Changed = true, true
	}
	res.PendingStages = nil
	return nil
}

// readBack reads the API after the run and reports from what it holds,
// not from the plan (whose new authorizer had no ID yet): the authorizer
// must have the settings sent, every route attached must name it, and
// every stage must serve it.
func (p *planner) readBack(ctx context.Context, selected map[string]bool) error {
	o, err := p.r.observe(ctx, p.in.APIID, p.o.t, p.in.FunctionName)
	if err != nil {
		return fmt.Errorf("read back the authorizer: %w", err)
	}
	p.res.Routes = routeStates(o.routes, p.authID, nil)
	want := p.r.wantAuthorizer(p.o.t, p.functionArn, p.in.CacheTTL)
	a := o.authorizer
	switch {
	case a == nil:
		return fmt.Errorf("API %s has no authorizer %s after the run: %w", p.in.APIID, AuthorizerName, apigw.ErrReadBack)
	case a.ID != p.authID || a.URI != want.URI || a.TTL != want.TTL || a.Type != want.Type || a.PayloadVersion != want.PayloadVersion || a.SimpleResponses != want.SimpleResponses:
		return fmt.Errorf("authorizer %s of %s reads %s, not %s: %w", a.ID, p.in.APIID, authorizerDetail(*a), authorizerDetail(want), apigw.ErrReadBack)
	}
	var wrong []string
	planned := "(new)"
	if p.o.authorizer != nil {
		planned = p.o.authorizer.ID
	}
	for _, rt := range p.finalRoutes {
		if !selected[rt.Key] || rt.AuthorizationType != "CUSTOM" || rt.AuthorizerID != planned {
			continue
		}
		for _, got := range o.routes {
			if got.Key == rt.Key && (got.AuthorizationType != "CUSTOM" || got.AuthorizerID != a.ID) {
				wrong = append(wrong, fmt.Sprintf("%s (%s %s)", got.Key, got.AuthorizationType, got.AuthorizerID))
			}
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("routes of %s not guarded by authorizer %s after the run (%s): %w", p.in.APIID, a.ID, strings.Join(wrong, ", "), apigw.ErrReadBack)
	}
	if pending := pendingStages(o.stages, o.routes, a); len(pending) > 0 {
		p.res.PendingStages = pending
		p.res.Routes = routeStates(o.routes, p.authID, pending)
		return fmt.Errorf("stages %s of %s do not serve the authorizer after the run: %w", strings.Join(pending, ", "), p.in.APIID, apigw.ErrReadBack)
	}
	return nil
}

// controlWait tells the waits of authorizer and route changes, except the
// sub-second pacing between them (10 requests per second), which would
// print a line per route.
func (r *Rollout) controlWait(w apigw.Wait) {
	if w.Reason == "pacing" && w.For < time.Second {
		return
	}
	r.events().Wait(w)
}
