package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/fakeapigw"
	"github.com/apimtls/apimtls/s3store"
)

// A create whose mapping failed is finished by running it again: the
// domain made the first time is adopted, never recreated.
func TestCreateResumes(t *testing.T) {
	e := newEnv(t)
	e.fake.AddAPI(&fakeapigw.API{ID: "h1", Stages: map[string]bool{"prod": false}})
	ts := e.push("truststore.pem", caPEM(t, "root", true))
	in := CreateInput{Domain: "new.example.com", APIType: apigw.Auto, CertificateArn: publicCert, Truststore: ts,
		Mapping: apigw.Mapping{APIID: "h1", Stage: "prod"}}

	e.fake.Throttle("/apimappings", 1)
	_, err := e.r.Create(ctx, in)
	var me *MappingError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want a mapping error", err)
	}
	if d := e.fake.Domain("new.example.com"); d.TruststoreVersion != ts.Version || len(d.Mappings) != 0 {
		t.Fatalf("after the first run: %+v", d)
	}
	res, err := e.r.Create(ctx, in)
	if err != nil || !res.Adopted || !res.Changed {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	if d := e.fake.Domain("new.example.com"); len(d.Mappings) != 1 || d.Mappings[0].APIID != "h1" {
		t.Fatalf("mappings %+v", d.Mappings)
	}
	creates := 0
	for _, r := range e.changes() {
		if strings.HasSuffix(r.Path, "/domainnames") {
			creates++
		}
	}
	if creates != 1 {
		t.Fatalf("%d CreateDomainName calls, want 1", creates)
	}
	// A third run has nothing left to do.
	res, err = e.r.Create(ctx, in)
	if err != nil || res.Changed || !strings.Contains(res.Summary, "nothing to change") {
		t.Fatalf("third run: %+v, %v", res, err)
	}
}

func TestCreateRefusesAnotherConfiguration(t *testing.T) {
	e := newEnv(t)
	e.domain("d.example.com", false)
	ts := e.push("truststore.pem", caPEM(t, "root", true))
	_, err := e.r.Create(ctx, CreateInput{Domain: "d.example.com", APIType: apigw.HTTP, CertificateArn: ownerCert, Truststore: ts})
	checkErr(t, err, &PreflightError{}, "apimtls never recreates a domain")
	if len(e.changes()) != 0 {
		t.Fatalf("changed: %v", e.changes())
	}
}

func TestCreateWarnings(t *testing.T) {
	e := newEnv(t)
	ts := e.push("truststore.pem", caPEM(t, "a leaf, not a CA", false))
	res, err := e.r.Create(ctx, CreateInput{Domain: "w.example.com", APIType: apigw.REST, CertificateArn: publicCert, Truststore: ts})
	var we *WarningsError
	if !errors.As(err, &we) || !we.Created || len(res.Warnings) == 0 {
		t.Fatalf("err = %v, warnings %q: the fake's own checks must warn on a non-CA", err, res.Warnings)
	}
}

func TestPin(t *testing.T) {
	e := newEnv(t)
	e.push("truststore.pem", []byte("one"))
	e.push("truststore.pem", []byte("two"))
	ts, err := e.r.Pin(ctx, apigw.Truststore{URI: "s3://truststores/truststore.pem"})
	if err != nil || ts.Version != "v2" {
		t.Fatalf("pinned %+v, %v; want the newest, v2", ts, err)
	}
	if _, err := e.r.Pin(ctx, apigw.Truststore{URI: "s3://truststores/none.pem"}); !errors.Is(err, ErrNoVersion) {
		t.Fatalf("err = %v", err)
	}
	if _, err := e.r.Pin(ctx, apigw.Truststore{URI: "https://x/y"}); err == nil {
		t.Fatal("a non-s3 URI was accepted")
	}
}

// memBucket is a bucket in memory for the push flow.
type memBucket struct {
	created bool
	pushed  [][]byte
	fail    error
}

func (b *memBucket) CreateBucket(context.Context, string, s3store.CreateOptions) (*s3store.CreateResult, error) {
	b.created = true
	return &s3store.CreateResult{Created: true, Notes: []string{"created"}}, nil
}

func (b *memBucket) Push(_ context.Context, in s3store.PushInput) (*s3store.PushResult, error) {
	if b.fail != nil {
		return nil, b.fail
	}
	if in.CheckOnly { // as s3store: checked, nothing uploaded
		return &s3store.PushResult{URI: s3store.URI(in.Bucket, in.Key)}, nil
	}
	b.pushed = append(b.pushed, in.Data)
	return &s3store.PushResult{URI: s3store.URI(in.Bucket, in.Key), VersionID: "v1", Uploaded: true}, nil
}

func TestPush(t *testing.T) {
	valid := func(data []byte) []string {
		if string(data) == "bad" {
			return []string{"bad"}
		}
		return nil
	}
	in := PushInput{PushInput: s3store.PushInput{Bucket: "b", Key: "k", Data: []byte("good")}, Name: "ts.pem", CreateBucket: true}
	t.Run("validate, create, push, record", func(t *testing.T) {
		b := &memBucket{}
		var recorded *s3store.PushResult
		in := in
		in.Record = func(r *s3store.PushResult) error { recorded = r; return nil }
		out, err := Push(ctx, b, valid, in)
		if err != nil || !b.created || len(b.pushed) != 1 || recorded == nil || recorded.VersionID != "v1" || len(out.Notes) != 1 {
			t.Fatalf("out %+v, err %v, bucket %+v", out, err, b)
		}
	})
	t.Run("invalid: nothing touched", func(t *testing.T) {
		b := &memBucket{}
		in := in
		in.Data = []byte("bad")
		_, err := Push(ctx, b, valid, in)
		var ie *InvalidError
		if !errors.As(err, &ie) || b.created || len(b.pushed) != 0 || !strings.Contains(err.Error(), "1 error: nothing uploaded") {
			t.Fatalf("err %v, bucket %+v", err, b)
		}
	})
	t.Run("push fails: nothing recorded", func(t *testing.T) {
		b := &memBucket{fail: s3store.ErrAccessDenied}
		in := in
		in.Record = func(*s3store.PushResult) error { t.Fatal("recorded a failed push"); return nil }
		if _, err := Push(ctx, b, valid, in); !errors.Is(err, s3store.ErrAccessDenied) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("record fails: says what was uploaded", func(t *testing.T) {
		in := in
		in.Record = func(*s3store.PushResult) error { return errors.New("disk full") }
		if _, err := Push(ctx, &memBucket{}, valid, in); err == nil || !strings.Contains(err.Error(), "uploaded s3://b/k version v1, but could not record it") {
			t.Fatalf("err %v", err)
		}
	})
}

// Closing the default endpoint: the plan, the chosen stages only, pacing
// by the deployment quota, and a run cut short finished by the next one.
func TestDisableDefaultEndpoint(t *testing.T) {
	for _, rest := range []bool{true, false} {
		name := map[bool]string{true: "rest", false: "http"}[rest]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			typ := map[bool]apigw.APIType{true: apigw.REST, false: apigw.HTTP}[rest]
			stages := map[string]bool{"prod": false, "staging": false, "dev": false}
			if !rest {
				stages["auto"] = true
			}
			e.fake.AddAPI(&fakeapigw.API{ID: "a1", REST: rest, Stages: stages})
			for st := range stages {
				e.fake.Deploy("a1", st, "by the team", t0.Add(-48*time.Hour))
			}
			api := e.r.API
			plan, err := api.PlanDefaultEndpoint(ctx, "a1", typ)
			if err != nil {
				t.Fatal(err)
			}
			if !plan.Enabled || len(plan.NeedDeployment()) != 3 {
				t.Fatalf("plan %+v: want the flag on and three stages to deploy", plan)
			}
			// Only the chosen stage is deployed: the others keep their
			// deployment (and their undeployed changes stay undeployed).
			res, err := api.DisableDefaultEndpoint(ctx, plan, []string{"prod"}, false, e.events.Wait)
			if err != nil || len(res.Redeployed) != 1 || len(res.Pending) != 2 {
				t.Fatalf("res %+v, err %v", res, err)
			}
			if a := e.fake.API("a1"); !a.DisableDefault || len(a.Deployments) != 1 || a.Deployments[0] != "prod" {
				t.Fatalf("api %+v", a)
			}
			// A run cut short: the second deployment throttled past every retry.
			plan, _ = api.PlanDefaultEndpoint(ctx, "a1", typ)
			if got := plan.NeedDeployment(); len(got) != 2 {
				t.Fatalf("after the first run, stages needing a deployment: %v, want staging and dev", got)
			}
			api.Backoff = apigw.Backoff{Base: time.Second, Max: time.Second, Attempts: 1}
			e.fake.Throttle("/deployments", 3)
			e.fake.Throttle("/deployments", 3)
			res, err = api.DisableDefaultEndpoint(ctx, plan, nil, true, e.events.Wait)
			if err == nil || !errors.Is(err, apigw.ErrThrottled) || len(res.Pending) == 0 {
				t.Fatalf("res %+v, err %v: want a throttled run with stages pending", res, err)
			}
			// The next run finds the stages still on an old deployment and
			// finishes them, paced by the 5-second quota.
			api.Backoff = apigw.Backoff{}
			plan, _ = api.PlanDefaultEndpoint(ctx, "a1", typ)
			if plan.Enabled || len(plan.NeedDeployment()) == 0 {
				t.Fatalf("plan after the cut-short run %+v", plan)
			}
			res, err = api.DisableDefaultEndpoint(ctx, plan, nil, true, e.events.Wait)
			if err != nil || res.AlreadyClosed || len(res.Pending) != 0 {
				t.Fatalf("finishing run: %+v, %v", res, err)
			}
			plan, _ = api.PlanDefaultEndpoint(ctx, "a1", typ)
			if len(plan.NeedDeployment()) != 0 {
				t.Fatalf("stages still open: %v", plan.NeedDeployment())
			}
			res, err = api.DisableDefaultEndpoint(ctx, plan, nil, true, e.events.Wait)
			if err != nil || !res.AlreadyClosed {
				t.Fatalf("a finished API: %+v, %v", res, err)
			}
			if a := e.fake.API("a1"); !rest && slicesContains(a.Deployments, "auto") {
				t.Fatal("deployed an auto-deploy stage")
			}
		})
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Two stages deployed back to back keep to CreateDeployment's quota: the
// second waits instead of being throttled.
func TestDeploymentsArePaced(t *testing.T) {
	e := newEnv(t)
	e.fake.AddAPI(&fakeapigw.API{ID: "r1", REST: true, Stages: map[string]bool{"prod": false, "staging": false}})
	plan, err := e.r.API.PlanDefaultEndpoint(ctx, "r1", apigw.REST)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.r.API.DisableDefaultEndpoint(ctx, plan, nil, true, e.events.Wait)
	if err != nil || len(res.Redeployed) != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	if e.throttled() != 0 || !paced(e) {
		t.Fatalf("waits %+v: want pacing and no throttling", e.events.waits())
	}
}

func TestStageChoiceChecked(t *testing.T) {
	e := newEnv(t)
	e.fake.AddAPI(&fakeapigw.API{ID: "r1", REST: true, Stages: map[string]bool{"prod": false}})
	plan, _ := e.r.API.PlanDefaultEndpoint(ctx, "r1", apigw.REST)
	if _, err := e.r.API.DisableDefaultEndpoint(ctx, plan, []string{"nosuch"}, false, nil); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err %v", err)
	}
	if len(e.changes()) != 0 || e.fake.API("r1").DisableDefault {
		t.Fatal("a wrong stage changed the API")
	}
}

func TestCreateDryRun(t *testing.T) {
	e := newEnv(t)
	e.fake.AddAPI(&fakeapigw.API{ID: "h1", Stages: map[string]bool{"prod": false}})
	ts := e.push("truststore.pem", caPEM(t, "root", true))
	in := CreateInput{Domain: "dry.example.com", CertificateArn: publicCert, Truststore: ts, Mapping: apigw.Mapping{APIID: "h1", Stage: "prod"}, DryRun: true}
	res, err := e.r.Create(ctx, in)
	if err != nil || res.Changed || !strings.Contains(res.Summary, "plan: create dry.example.com (http API") || len(e.changes()) != 0 {
		t.Fatalf("%+v %v %v", res, err, e.changes())
	}
	in.DryRun = false
	e.fake.Throttle("/apimappings", 1)
	_, err = e.r.Create(ctx, in)
	var me *MappingError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "mapping the API failed") || !errors.Is(err, apigw.ErrThrottled) {
		t.Fatalf("err %v", err)
	}
	in.DryRun = true
	if res, err = e.r.Create(ctx, in); err != nil || !strings.Contains(res.Summary, "exists as asked; map h1 stage prod") {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestPushCRLs(t *testing.T) {
	b := &memBucket{}
	out, err := PushCRLs(ctx, b, "b", "crl/", []CRLObject{{CA: "root", KeyID: "ab01", DER: []byte{1}}, {CA: "issuing", KeyID: "cd02", DER: []byte{2}}})
	if err != nil || len(out) != 2 || out[0].CA != "root" || len(b.pushed) != 2 || CRLKey("crl/", "ab01") != "crl/ab01.crl" {
		t.Fatalf("%+v %v", out, err)
	}
	b.fail = s3store.ErrVersioningOff
	if _, err := PushCRLs(ctx, b, "b", "crl/", []CRLObject{{CA: "root", KeyID: "ab01"}}); !errors.Is(err, s3store.ErrVersioningOff) || !strings.Contains(err.Error(), "CA root") {
		t.Fatalf("err %v", err)
	}
}

func TestQuietEventsAndURIs(t *testing.T) {
	r := &Rollout{}
	ev := r.events()
	ev.Status("d", "UPDATING")
	ev.Wait(apigw.Wait{})
	ev.Note("n")
	ev.Done()
	if _, _, err := ParseURI("s3://b/"); err == nil {
		t.Fatal("a URI without a key was accepted")
	}
	if b, k, err := ParseURI("s3://bucket-1/a/b.pem"); err != nil || b != "bucket-1" || k != "a/b.pem" {
		t.Fatalf("%s %s %v", b, k, err)
	}
	if got := Target(apigw.Truststore{URI: "s3://b/k"}); got != "s3://b/k version (none)" {
		t.Fatal(got)
	}
}

// The plan says which stages serve an older definition of a REST API than
// the working one: a redeploy would publish those changes too.
func TestPlanShowsUndeployedChanges(t *testing.T) {
	e := newEnv(t)
	e.fake.AddAPI(&fakeapigw.API{ID: "r1", REST: true, Stages: map[string]bool{"prod": false, "dev": false}})
	e.fake.AddRoutes("r1", "GET /pets")
	e.fake.Deploy("r1", "prod", "by the team", t0.Add(-time.Hour))
	e.fake.AddRoutes("r1", "POST /pets")
	e.fake.Deploy("r1", "dev", "by the team", t0.Add(-time.Minute))
	plan, err := e.r.API.PlanDefaultEndpoint(ctx, "r1", apigw.REST)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range plan.Stages {
		if s.Changed == nil {
			t.Fatalf("stage %s: no answer on changes", s.Name)
		}
		got[s.Name] = *s.Changed
	}
	if !got["prod"] || got["dev"] {
		t.Fatalf("changed since deployment: %v; want prod (before POST /pets) changed, dev not", got)
	}
}

// A REST API mapped at the root reads back as no base path, as an HTTP
// API's does (API Gateway v1 says "(none)"), so a re-run of create finds
// the mapping it made.
func TestRESTRootMappingReadsAsEmpty(t *testing.T) {
	e := newEnv(t)
	e.fake.AddAPI(&fakeapigw.API{ID: "r1", REST: true, Stages: map[string]bool{"prod": false}})
	ts := e.push("truststore.pem", caPEM(t, "root", true))
	in := CreateInput{Domain: "root.example.com", APIType: apigw.REST, CertificateArn: publicCert, Truststore: ts,
		Mapping: apigw.Mapping{APIID: "r1", Stage: "prod"}}
	if _, err := e.r.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	d, err := e.r.API.GetDomain(ctx, "root.example.com", apigw.REST)
	if err != nil || len(d.Mappings) != 1 || d.Mappings[0].BasePath != "" {
		t.Fatalf("mappings %+v, %v; want one with no base path", d.Mappings, err)
	}
	res, err := e.r.Create(ctx, in)
	if err != nil || res.Changed {
		t.Fatalf("re-run: %+v, %v; want nothing to change", res, err)
	}
}

// Create reads back what it made: an endpoint that accepted the create and
// dropped the mutual TLS settings (moto does) is an error, not "created
// with mutual TLS".
func TestCreateReadsBack(t *testing.T) {
	for _, noWait := range []bool{false, true} {
		e := newEnv(t)
		e.fake.DropMTLSOnCreate = true
		ts := e.push("truststore.pem", caPEM(t, "root", true))
		res, err := e.r.Create(ctx, CreateInput{Domain: "moto.example.com", APIType: apigw.HTTP, CertificateArn: publicCert, Truststore: ts, Wait: Wait{NoWait: noWait}})
		if !errors.Is(err, apigw.ErrReadBack) || !strings.Contains(err.Error(), "reports mutual TLS off, not s3://truststores/truststore.pem version v1") {
			t.Fatalf("no wait %v: err %v, res %+v", noWait, err, res)
		}
	}
}

// A domain read without a status says so, never "is  after the update".
func TestEmptyStatusSaid(t *testing.T) {
	e := newEnv(t)
	e.domain("quiet.example.com", false)
	e.fake.OmitStatus = true
	ts := e.push("truststore.pem", caPEM(t, "root", true))
	_, err := e.r.EnableMTLS(ctx, EnableInput{Domain: "quiet.example.com", Truststore: ts})
	if err == nil || !strings.Contains(err.Error(), "quiet.example.com reports no status, not AVAILABLE") {
		t.Fatalf("enable-mtls: %v", err)
	}
	_, err = e.r.Create(ctx, CreateInput{Domain: "new.example.com", APIType: apigw.HTTP, CertificateArn: publicCert, Truststore: ts})
	if err == nil || !strings.Contains(err.Error(), "new.example.com reports no status after the update") {
		t.Fatalf("create: %v", err)
	}
}

// keepsFlag accepts UpdateApi and changes nothing, as an emulator might.
type keepsFlag struct{ apigw.V2API }

func (keepsFlag) UpdateApi(context.Context, *apigatewayv2.UpdateApiInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.UpdateApiOutput, error) {
	return &apigatewayv2.UpdateApiOutput{}, nil
}

// disable-default-endpoint reads the flag back, and says in words that an
// auto-deploy stage needed no deployment.
func TestDisableDefaultEndpointReadsBack(t *testing.T) {
	e := newEnv(t)
	e.fake.AddAPI(&fakeapigw.API{ID: "h1", Stages: map[string]bool{"$default": true}})
	plan, err := e.r.API.PlanDefaultEndpoint(ctx, "h1", apigw.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.r.API.DisableDefaultEndpoint(ctx, plan, nil, true, nil)
	if err != nil || res.Deployments() != "no stage needed a deployment (auto-deploy)" {
		t.Fatalf("%v: %q", err, res.Deployments())
	}
	e.fake.AddAPI(&fakeapigw.API{ID: "h2", Stages: map[string]bool{"$default": true}})
	api := &apigw.Client{V1: e.r.API.V1, V2: keepsFlag{e.r.API.V2}, ACM: e.r.API.ACM, Clock: e.clock}
	plan, err = api.PlanDefaultEndpoint(ctx, "h2", apigw.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.DisableDefaultEndpoint(ctx, plan, nil, true, nil); !errors.Is(err, apigw.ErrReadBack) {
		t.Fatalf("a flag that did not change: %v", err)
	}
}
