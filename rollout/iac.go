package rollout

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apimtls/apimtls/apigw"
)

// Infrastructure-as-code formats of a truststore setting (truststore push
// --emit).
const (
	Terraform      = "terraform"
	CloudFormation = "cloudformation"
)

// IaCFormats are the formats Snippet writes.
var IaCFormats = []string{Terraform, CloudFormation}

// Snippets are a truststore's setting in each IaC format, to paste into
// the resource that owns the domain (truststore push's JSON "iac").
type Snippets struct {
	Terraform      string `json:"terraform"`
	CloudFormation string `json:"cloudformation"`
}

// SnippetsOf writes ts in every format.
func SnippetsOf(ts apigw.Truststore) Snippets {
	return Snippets{Terraform: terraformBlock(ts), CloudFormation: cloudFormationProperty(ts)}
}

// Snippet writes ts in one format: "terraform" or "cloudformation".
func Snippet(format string, ts apigw.Truststore) (string, error) {
	switch format {
	case Terraform:
		return terraformBlock(ts), nil
	case CloudFormation:
		return cloudFormationProperty(ts), nil
	}
	return "", fmt.Errorf("unknown format %q: use %s", format, strings.Join(IaCFormats, " or "))
}

// terraformBlock is the nested block of aws_api_gateway_domain_name and
// aws_apigatewayv2_domain_name (the same in both resources: a block of at
// most one, truststore_uri required, truststore_version optional). HCL
// strings interpolate ${ and %{, which an S3 key may hold: they are
// doubled, HCL's escape for a literal.
func terraformBlock(ts apigw.Truststore) string {
	var b strings.Builder
	b.WriteString("mutual_tls_authentication {\n")
	fmt.Fprintf(&b, "  truststore_uri     = %s\n", hclString(ts.URI))
	if ts.Version != "" {
		fmt.Fprintf(&b, "  truststore_version = %s\n", hclString(ts.Version))
	}
	b.WriteString("}\n")
	return b.String()
}

func hclString(s string) string {
	s = strings.NewReplacer("${", "$${", "%{", "%%{").Replace(s)
	return strconv.Quote(s)
}

// cloudFormationProperty is the MutualTlsAuthentication property of
// AWS::ApiGateway::DomainName and AWS::ApiGatewayV2::DomainName (the same
// two fields in both), in YAML, values double-quoted (JSON's string syntax
// is YAML's double-quoted scalar).
func cloudFormationProperty(ts apigw.Truststore) string {
	var b strings.Builder
	b.WriteString("MutualTlsAuthentication:\n")
	fmt.Fprintf(&b, "  TruststoreUri: %s\n", strconv.Quote(ts.URI))
	if ts.Version != "" {
		fmt.Fprintf(&b, "  TruststoreVersion: %s\n", strconv.Quote(ts.Version))
	}
	return b.String()
}

// DriftWarning is what to tell before a change to a domain that
// CloudFormation manages ("" when none manages it): the change drifts from
// the stack's template, and the stack puts the template's setting back the
// next time it updates or replaces the domain. to is the truststore the
// change sets (no URI: mutual TLS off).
func DriftWarning(d *apigw.Domain, to apigw.Truststore) string {
	s := d.CloudFormation
	if s == nil {
		return ""
	}
	who := "stack " + plainName(s.Name)
	if s.Name == "" {
		who = "a stack"
	}
	if s.LogicalID != "" {
		who += ", resource " + plainName(s.LogicalID)
	}
	fix := "set it in the template instead: " + inline(cloudFormationProperty(to)) + " (apimtls truststore push --emit cloudformation prints it)"
	if to.URI == "" {
		fix = "remove MutualTlsAuthentication from the template instead"
	}
	return fmt.Sprintf("%s is managed by CloudFormation (%s): this change drifts from the template, and the next stack update that touches the domain puts the template's MutualTlsAuthentication back; %s", d.Name, who, fix)
}

// inline puts a YAML snippet on one line in flow style.
func inline(yaml string) string {
	head, body, _ := strings.Cut(strings.TrimSpace(yaml), "\n")
	var fields []string
	for _, l := range strings.Split(body, "\n") {
		fields = append(fields, strings.TrimSpace(l))
	}
	return head + " {" + strings.Join(fields, ", ") + "}"
}

// plainName is a stack name or logical ID as read from the tags, quoted
// (control characters escaped) unless it is made of the characters
// CloudFormation allows in them: an emulator's tags are outside input.
func plainName(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return strconv.Quote(s)
		}
	}
	return s
}
