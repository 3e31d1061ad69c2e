package fakeapigw

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// IAM is served in AWS's query protocol (form-encoded POST /, Action and
// Version 2010-05-08, XML answers), as the SDK's iam client speaks it, for
// the role calls an authorizer deployment makes. Rules, with their source:
//
//   - Names: 1–64 of [\w+=,.@-] (API reference CreateRole); an existing
//     name is EntityAlreadyExists (409), a missing one NoSuchEntity (404).
//   - Policy documents must be JSON with Version and Statement, each
//     statement with Effect Allow|Deny, an Action and a Resource (a trust
//     policy: a Principal instead); else MalformedPolicyDocument (400).
//   - Documents come back URL-encoded (RFC 3986) from GetRole and
//     GetRolePolicy, as IAM documents them; a client must decode them.
//   - DeleteRole with inline policies left is DeleteConflict (409): "Cannot
//     delete entity, must delete policies first."
//   - Eventual consistency: a role is not usable by Lambda until
//     RolePropagation after its creation or its last trust-policy change
//     (see lambda.go). AWS: "Troubleshoot IAM": "changes that I make are not
//     always immediately visible"; Lambda answers InvalidParameterValueException
//     "The role defined for the function cannot be assumed by Lambda."
type Role struct {
	Name, Arn, ID, Description string
	// AssumeRolePolicy is the trust policy, as JSON.
	AssumeRolePolicy string
	// Policies are the inline policies, name to JSON.
	Policies map[string]string
	Created  time.Time
	// changed is when the role or its trust policy last changed.
	changed time.Time
}

// DefaultRolePropagation is how long the fake keeps a new role from
// Lambda: IAM changes take "a few seconds" to propagate.
const DefaultRolePropagation = 8 * time.Second

const iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"

var iamNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

type iamError struct {
	status     int
	code, msg  string
	senderType string
}

func iamErr(status int, code, format string, args ...any) *iamError {
	return &iamError{status: status, code: code, msg: fmt.Sprintf(format, args...), senderType: "Sender"}
}

// Role returns a copy of a role, and whether it exists.
func (f *Fake) Role(name string) (Role, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.Roles[name]
	if r == nil {
		return Role{}, false
	}
	out := *r
	out.Policies = map[string]string{}
	for k, v := range r.Policies {
		out.Policies[k] = v
	}
	return out, true
}

func (f *Fake) iam(w http.ResponseWriter, form url.Values) {
	f.mu.Lock()
	out, err := f.iamCall(form)
	f.mu.Unlock()
	action := form.Get("Action")
	w.Header().Set("Content-Type", "text/xml")
	if err != nil {
		w.WriteHeader(err.status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake</RequestId></ErrorResponse>`,
			iamNS, err.senderType, err.code, xmlEscape(err.msg))
		return
	}
	fmt.Fprintf(w, `<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></%sResponse>`,
		action, iamNS, action, out, action, action)
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (f *Fake) iamCall(form url.Values) (string, *iamError) {
	if form.Get("Version") != "2010-05-08" {
		return "", iamErr(400, "InvalidAction", "Could not find operation %s for version %s", form.Get("Action"), form.Get("Version"))
	}
	name := form.Get("RoleName")
	if name != "" && !iamNameRE.MatchString(name) {
		return "", iamErr(400, "ValidationError", "1 validation error detected: Value '%s' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", name)
	}
	role := f.Roles[name]
	noSuch := iamErr(404, "NoSuchEntity", "The role with name %s cannot be found.", name)
	switch form.Get("Action") {
	case "CreateRole":
		if role != nil {
			return "", iamErr(409, "EntityAlreadyExists", "Role with name %s already exists.", name)
		}
		doc := form.Get("AssumeRolePolicyDocument")
		if err := checkPolicy(doc, true); err != nil {
			return "", err
		}
		now := f.Clock.Now()
		f.roleSeq++
		role = &Role{Name: name, Arn: fmt.Sprintf("arn:aws:iam::%s:role/%s", f.Account, name), ID: fmt.Sprintf("AROAFAKE%012d", f.roleSeq),
			Description: form.Get("Description"), AssumeRolePolicy: doc, Policies: map[string]string{}, Created: now, changed: now}
		f.Roles[name] = role
		return roleXML(role), nil
	case "GetRole":
		if role == nil {
			return "", noSuch
		}
		return roleXML(role), nil
	case "UpdateAssumeRolePolicy":
		if role == nil {
			return "", noSuch
		}
		doc := form.Get("PolicyDocument")
		if err := checkPolicy(doc, true); err != nil {
			return "", err
		}
		role.AssumeRolePolicy, role.changed = doc, f.Clock.Now()
		return "", nil
	case "DeleteRole":
		if role == nil {
			return "", noSuch
		}
		if len(role.Policies) > 0 {
			return "", iamErr(409, "DeleteConflict", "Cannot delete entity, must delete policies first.")
		}
		delete(f.Roles, name)
		return "", nil
	case "PutRolePolicy":
		if role == nil {
			return "", noSuch
		}
		doc := form.Get("PolicyDocument")
		if !iamNameRE.MatchString(form.Get("PolicyName")) {
			return "", iamErr(400, "ValidationError", "Invalid policy name %q", form.Get("PolicyName"))
		}
		if err := checkPolicy(doc, false); err != nil {
			return "", err
		}
		role.Policies[form.Get("PolicyName")] = doc
		return "", nil
	case "GetRolePolicy":
		if role == nil {
			return "", noSuch
		}
		doc, ok := role.Policies[form.Get("PolicyName")]
		if !ok {
			return "", iamErr(404, "NoSuchEntity", "The role policy with name %s cannot be found.", form.Get("PolicyName"))
		}
		return fmt.Sprintf("<RoleName>%s</RoleName><PolicyName>%s</PolicyName><PolicyDocument>%s</PolicyDocument>",
			xmlEscape(name), xmlEscape(form.Get("PolicyName")), xmlEscape(url.PathEscape(doc))), nil
	case "DeleteRolePolicy":
		if role == nil {
			return "", noSuch
		}
		if _, ok := role.Policies[form.Get("PolicyName")]; !ok {
			return "", iamErr(404, "NoSuchEntity", "The role policy with name %s cannot be found.", form.Get("PolicyName"))
		}
		delete(role.Policies, form.Get("PolicyName"))
		return "", nil
	case "ListRolePolicies":
		if role == nil {
			return "", noSuch
		}
		var names []string
		for n := range role.Policies {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString("<PolicyNames>")
		for _, n := range names {
			fmt.Fprintf(&b, "<member>%s</member>", xmlEscape(n))
		}
		b.WriteString("</PolicyNames><IsTruncated>false</IsTruncated>")
		return b.String(), nil
	}
	return "", iamErr(400, "InvalidAction", "Could not find operation %s for version 2010-05-08", form.Get("Action"))
}

func roleXML(r *Role) string {
	desc := ""
	if r.Description != "" {
		desc = "<Description>" + xmlEscape(r.Description) + "</Description>"
	}
	return fmt.Sprintf("<Role><Path>/</Path><RoleName>%s</RoleName><RoleId>%s</RoleId><Arn>%s</Arn><CreateDate>%s</CreateDate><AssumeRolePolicyDocument>%s</AssumeRolePolicyDocument>%s<MaxSessionDuration>3600</MaxSessionDuration></Role>",
		xmlEscape(r.Name), r.ID, xmlEscape(r.Arn), r.Created.UTC().Format(time.RFC3339), xmlEscape(url.PathEscape(r.AssumeRolePolicy)), desc)
}

// PolicyStatement is one statement of an IAM policy, as the fake reads it.
type PolicyStatement struct {
	Sid       string          `json:"Sid,omitempty"`
	Effect    string          `json:"Effect"`
	Principal json.RawMessage `json:"Principal,omitempty"`
	Action    json.RawMessage `json:"Action"`
	Resource  json.RawMessage `json:"Resource,omitempty"`
	Condition json.RawMessage `json:"Condition,omitempty"`
}

func checkPolicy(doc string, trust bool) *iamError {
	malformed := func(why string) *iamError {
		return iamErr(400, "MalformedPolicyDocument", "Syntax errors in policy. (%s)", why)
	}
	var p struct {
		Version   string            `json:"Version"`
		Statement []PolicyStatement `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return malformed(err.Error())
	}
	if p.Version != "2012-10-17" && p.Version != "2008-10-17" {
		return malformed("Version must be 2012-10-17")
	}
	if len(p.Statement) == 0 {
		return malformed("no Statement")
	}
	for i, s := range p.Statement {
		if s.Effect != "Allow" && s.Effect != "Deny" {
			return malformed(fmt.Sprintf("statement %d: Effect must be Allow or Deny", i))
		}
		if len(s.Action) == 0 {
			return malformed(fmt.Sprintf("statement %d has no Action", i))
		}
		if trust && len(s.Principal) == 0 {
			return iamErr(400, "MalformedPolicyDocument", "Has prohibited field Resource or is missing Principal")
		}
		if !trust && (len(s.Resource) == 0 || len(s.Principal) != 0) {
			return iamErr(400, "MalformedPolicyDocument", "Policy document should not specify a principal and must specify a Resource.")
		}
	}
	return nil
}

// trustsLambda reports whether a trust policy lets lambda.amazonaws.com
// assume the role.
func trustsLambda(doc string) bool {
	var p struct {
		Statement []PolicyStatement `json:"Statement"`
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return false
	}
	for _, s := range p.Statement {
		if s.Effect == "Allow" && strings.Contains(string(s.Principal), `"lambda.amazonaws.com"`) && strings.Contains(string(s.Action), "sts:AssumeRole") {
			return true
		}
	}
	return false
}
