package rollout

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/apigw"
)

// The nested block's schema in terraform-provider-aws, the same in
// aws_api_gateway_domain_name and aws_apigatewayv2_domain_name
// (internal/service/apigateway/domain_name.go,
// internal/service/apigatewayv2/domain_name.go): "mutual_tls_authentication"
// a list of at most one block, "truststore_uri" Required,
// "truststore_version" Optional. And CloudFormation's
// AWS::ApiGateway::DomainName / AWS::ApiGatewayV2::DomainName
// MutualTlsAuthentication: TruststoreUri, TruststoreVersion, both String.
var (
	terraformFields      = map[string]bool{"truststore_uri": true, "truststore_version": false} // name: required
	cloudFormationFields = map[string]bool{"TruststoreUri": false, "TruststoreVersion": false}
)

var snippetCases = []apigw.Truststore{
	{URI: "s3://example-mtls-truststores/truststore.pem", Version: "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"},
	{URI: "s3://b/truststore.pem"},
	// HCL would interpolate these; YAML would read the quote and backslash
	{URI: `s3://b/${var.x}/%{if}/"q"\.pem`, Version: "v1"},
}

func TestSnippets(t *testing.T) {
	got, err := Snippet(Terraform, snippetCases[0])
	want := "mutual_tls_authentication {\n  truststore_uri     = \"s3://example-mtls-truststores/truststore.pem\"\n  truststore_version = \"3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY\"\n}\n"
	if err != nil || got != want {
		t.Errorf("terraform:\n%s\nwant\n%s (%v)", got, want, err)
	}
	got, err = Snippet(CloudFormation, snippetCases[0])
	want = "MutualTlsAuthentication:\n  TruststoreUri: \"s3://example-mtls-truststores/truststore.pem\"\n  TruststoreVersion: \"3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY\"\n"
	if err != nil || got != want {
		t.Errorf("cloudformation:\n%s\nwant\n%s (%v)", got, want, err)
	}
	if _, err := Snippet("pulumi", snippetCases[0]); err == nil || !strings.Contains(err.Error(), "terraform or cloudformation") {
		t.Errorf("unknown format: %v", err)
	}
	for _, ts := range snippetCases {
		s := SnippetsOf(ts)
		checkFields(t, "terraform", s.Terraform, "mutual_tls_authentication {", regexp.MustCompile(`^  (\w+) += (".*")$`), terraformFields, ts,
			func(v string) string { return strings.NewReplacer("$${", "${", "%%{", "%{").Replace(v) })
		checkFields(t, "cloudformation", s.CloudFormation, "MutualTlsAuthentication:", regexp.MustCompile(`^  (\w+): (".*")$`), cloudFormationFields, ts,
			func(v string) string { return v })
	}
}

// checkFields reads a snippet line by line: its head, then one field per
// line, each a name of the schema with a quoted value that reads back as
// the truststore's URI or version.
func checkFields(t *testing.T, format, snippet, head string, field *regexp.Regexp, schema map[string]bool, ts apigw.Truststore, unescape func(string) string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(snippet, "\n"), "\n")
	if lines[0] != head {
		t.Errorf("%s: starts %q, want %q", format, lines[0], head)
	}
	seen := map[string]string{}
	for _, l := range lines[1:] {
		if l == "}" && format == "terraform" {
			continue
		}
		m := field.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("%s: line %q is not a field", format, l)
			continue
		}
		if _, ok := schema[m[1]]; !ok {
			t.Errorf("%s: field %q is not in the schema", format, m[1])
		}
		var v string
		if err := json.Unmarshal([]byte(m[2]), &v); err != nil {
			t.Errorf("%s: value %s: %v", format, m[2], err)
		}
		seen[m[1]] = unescape(v)
	}
	for name, required := range schema {
		if _, ok := seen[name]; required && !ok {
			t.Errorf("%s: required field %s missing", format, name)
		}
	}
	uri, version := seen["truststore_uri"]+seen["TruststoreUri"], seen["truststore_version"]+seen["TruststoreVersion"]
	if uri != ts.URI || version != ts.Version {
		t.Errorf("%s reads back as %q %q, want %q %q:\n%s", format, uri, version, ts.URI, ts.Version, snippet)
	}
}

// TestSnippetsTerraformValidate: terraform validate, with the AWS
// provider from a local plugin directory (APIMTLS_TF_PLUGIN_DIR, else
// /opt/tf-plugins), accepts every emitted block in both resources.
func TestSnippetsTerraformValidate(t *testing.T) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("no terraform on PATH; TestSnippets checks the field names against the provider's schema")
	}
	plugins := os.Getenv("APIMTLS_TF_PLUGIN_DIR")
	if plugins == "" {
		plugins = "/opt/tf-plugins"
	}
	if _, err := os.Stat(filepath.Join(plugins, "registry.terraform.io", "hashicorp", "aws")); err != nil {
		t.Skipf("no hashicorp/aws provider in %s (APIMTLS_TF_PLUGIN_DIR): terraform init would need the registry", plugins)
	}
	var cfg strings.Builder
	for i, ts := range snippetCases {
		block := strings.ReplaceAll(terraformBlock(ts), "\n", "\n  ")
		cfg.WriteString(strings.NewReplacer("NAME", "rest"+string(rune('a'+i)), "BLOCK", block).Replace(`resource "aws_api_gateway_domain_name" "NAME" {
  domain_name              = "api.example.com"
  regional_certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
  security_policy          = "TLS_1_2"
  endpoint_configuration {
    types = ["REGIONAL"]
  }
  BLOCK
}
`))
		cfg.WriteString(strings.NewReplacer("NAME", "http"+string(rune('a'+i)), "BLOCK", block).Replace(`resource "aws_apigatewayv2_domain_name" "NAME" {
  domain_name = "api.example.com"
  domain_name_configuration {
    certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }
  BLOCK
}
`))
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "TF_CLI_CONFIG_FILE=", "TF_IN_AUTOMATION=1", "TF_DATA_DIR="+filepath.Join(dir, ".terraform"), "CHECKPOINT_DISABLE=1")
	for _, args := range [][]string{{"init", "-backend=false", "-input=false", "-no-color", "-plugin-dir=" + plugins}, {"validate", "-no-color"}} {
		cmd := exec.Command(tf, args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("terraform %s: %v\n%s\n%s", args[0], err, out, cfg.String())
		}
	}
}

// noteAt records how many changes the env had seen at each note.
type noteAt struct {
	*recorder
	e  *env
	at []int
}

func (n *noteAt) Note(s string) {
	n.recorder.Note(s)
	n.at = append(n.at, len(n.e.changes()))
}

// A domain CloudFormation manages: enable-mtls and disable-mtls warn
// before they change it (and in a dry run's plan), naming the stack and
// the template's setting; a domain without the tags gets no warning.
func TestDriftWarning(t *testing.T) {
	cfn := map[string]string{apigw.TagStackName: "edge-api", apigw.TagLogicalID: "ApiDomain",
		apigw.TagStackID: "arn:aws:cloudformation:eu-west-1:111122223333:stack/edge-api/0b1c2d3e"}
	for _, tc := range []struct {
		name    string
		rest    bool
		tags    map[string]string
		disable bool
		dryRun  bool
		want    []string // in the warning; none: no warning
	}{
		{name: "http enable", tags: cfn, want: []string{"d.example.com is managed by CloudFormation (stack edge-api, resource ApiDomain)", "drifts", `MutualTlsAuthentication: {TruststoreUri: "s3://truststores/t.pem", TruststoreVersion: "v1"}`}},
		{name: "rest enable, dry run", rest: true, tags: cfn, dryRun: true, want: []string{"stack edge-api", "next stack update"}},
		{name: "disable", tags: cfn, disable: true, want: []string{"remove MutualTlsAuthentication from the template"}},
		{name: "stack ID only", tags: map[string]string{apigw.TagStackID: cfn[apigw.TagStackID]}, want: []string{"(stack edge-api)"}},
		{name: "odd characters quoted", tags: map[string]string{apigw.TagStackName: "x\x1b[2J"}, want: []string{`(stack "x\x1b[2J")`}},
		{name: "other tags only", tags: map[string]string{"team": "edge"}},
		{name: "no tags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ev := &noteAt{recorder: e.events, e: e}
			e.r.Events = ev
			e.domain("d.example.com", tc.rest)
			if tc.tags != nil {
				e.fake.SetTags("d.example.com", tc.tags)
			}
			ts := e.push("t.pem", caPEM(t, "root", true))
			var res *Result
			var err error
			base := 0 // changes before the one under test
			if tc.disable {
				if _, err := e.r.EnableMTLS(ctx, EnableInput{Domain: "d.example.com", Truststore: ts}); err != nil {
					t.Fatal(err)
				}
				ev.notes, ev.at, base = nil, nil, len(e.changes())
				res, err = e.r.DisableMTLS(ctx, DisableInput{Domain: "d.example.com"})
			} else {
				res, err = e.r.EnableMTLS(ctx, EnableInput{Domain: "d.example.com", Truststore: ts, DryRun: tc.dryRun})
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.want) == 0 {
				if res.Drift != "" || len(ev.notes) != 0 {
					t.Fatalf("drift %q, notes %q: want none", res.Drift, ev.notes)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Drift, w) {
					t.Errorf("drift %q lacks %q", res.Drift, w)
				}
			}
			if len(ev.notes) != 1 || ev.notes[0] != "warning: "+res.Drift {
				t.Fatalf("notes %q: want the warning once", ev.notes)
			}
			if ev.at[0] != base {
				t.Errorf("warned after %d changes, want before the change (%d)", ev.at[0], base)
			}
			switch after := len(e.changes()); {
			case tc.dryRun && after != 0:
				t.Errorf("the dry run made %d changes", after)
			case !tc.dryRun && (!res.Changed || after == base):
				t.Error("the warning refused the change; it only warns")
			}
		})
	}
}

// TestSnippetsCloudFormationLint: cfn-lint, which checks a template
// against CloudFormation's resource schemas offline, accepts every emitted
// property in both resource types.
func TestSnippetsCloudFormationLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("no cfn-lint on PATH; TestSnippets checks the field names against CloudFormation's")
	}
	var tmpl strings.Builder
	tmpl.WriteString("AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n")
	for i, ts := range snippetCases {
		prop := "      " + strings.ReplaceAll(strings.TrimSuffix(cloudFormationProperty(ts), "\n"), "\n", "\n      ") + "\n"
		fmt.Fprintf(&tmpl, `  Http%d:
    Type: AWS::ApiGatewayV2::DomainName
    Properties:
      DomainName: api%d.example.com
      DomainNameConfigurations:
        - CertificateArn: arn:aws:acm:eu-west-1:123456789012:certificate/abc
          EndpointType: REGIONAL
          SecurityPolicy: TLS_1_2
%s  Rest%d:
    Type: AWS::ApiGateway::DomainName
    Properties:
      DomainName: rest%d.example.com
      RegionalCertificateArn: arn:aws:acm:eu-west-1:123456789012:certificate/abc
      EndpointConfiguration:
        Types: [REGIONAL]
      SecurityPolicy: TLS_1_2
%s`, i, i, prop, i, i, prop)
	}
	path := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(path, []byte(tmpl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(lint, "--", path).CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint: %v\n%s\n%s", err, out, tmpl.String())
	}
}
