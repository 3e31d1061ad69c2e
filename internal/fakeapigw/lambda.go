package fakeapigw

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Lambda is served in REST-JSON at /2015-03-31/functions..., as the SDK's
// lambda client speaks it, for the calls an authorizer deployment makes:
// CreateFunction, GetFunction, GetFunctionConfiguration,
// UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction,
// AddPermission, GetPolicy, RemovePermission. Rules, with their source
// (AWS: Lambda API reference unless said otherwise):
//
//   - The execution role must exist, trust lambda.amazonaws.com, and have
//     propagated (RolePropagation after it was created or its trust policy
//     changed): else InvalidParameterValueException "The role defined for
//     the function cannot be assumed by Lambda." (the error AWS gives for a
//     role created seconds before; hashicorp/terraform-provider-aws retries
//     on exactly this message).
//   - Runtimes and architectures from the API's enums (the fake knows the
//     provided.* and a few others); one architecture, arm64 or x86_64.
//   - The zip must unzip ("Could not unzip uploaded file. Please check your
//     file, then try to upload again."); whether it holds an executable
//     bootstrap at its root is recorded (Function.HasBootstrap): AWS only
//     fails at the first invocation (Runtime.InvalidEntrypoint).
//   - Environment variables at most 4 KB in all ("Lambda was unable to
//     configure your environment variables because the environment
//     variables you have provided exceeded the 4KB limit.").
//   - Function states ("Lambda function states"): a new function is
//     Pending for FunctionSettle, an update InProgress as long; a further
//     update meanwhile is ResourceConflictException. A function idle long
//     enough is Inactive (MarkInactive) until it is updated or invoked;
//     Inactive refuses no update.
//   - AddPermission with a statement ID in use is ResourceConflictException
//     "The statement id (ID) provided already exists. Please provide a new
//     statement id, or remove the existing statement."; GetPolicy of a
//     function without one is ResourceNotFoundException "The resource you
//     requested does not exist.".
type Function struct {
	Name, Arn, Role, Runtime, Handler, Architecture, Description string
	Env                                                          map[string]string
	CodeSha256                                                   string
	CodeSize                                                     int64
	HasBootstrap                                                 bool
	Timeout, MemorySize                                          int32
	Policy                                                       []Permission
	// Updates counts UpdateFunctionCode and UpdateFunctionConfiguration.
	Updates  int
	created  time.Time
	updated  time.Time
	updating bool
	inactive bool
	revision int
}

// MarkInactive makes a function Inactive, as Lambda does with one idle
// for weeks, until its next update.
func (f *Fake) MarkInactive(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Functions[name].inactive = true
}

// Permission is one statement of a function's resource policy.
type Permission struct {
	Sid, Principal, Action, SourceArn, SourceAccount string
}

// DefaultFunctionSettle is how long a new or updated function stays
// Pending or InProgress.
const DefaultFunctionSettle = 2 * time.Second

var (
	fnNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	roleArnRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/(?:[\w+=,.@/-]+/)?([\w+=,.@-]{1,64})$`)
	sidRE     = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,100}$`)
	runtimes  = []string{"provided.al2023", "provided.al2", "python3.12", "python3.13", "nodejs20.x", "nodejs22.x", "java21"}
)

type lambdaRoute struct {
	method string
	re     *regexp.Regexp
	fn     func(f *Fake, c *call) (int, any, *apiError)
}

var lambdaRoutes = []lambdaRoute{
	{"POST", regexp.MustCompile(`^/2015-03-31/functions/?$`), (*Fake).lambdaCreate},
	{"GET", regexp.MustCompile(`^/2015-03-31/functions/([^/]+)$`), (*Fake).lambdaGet},
	{"GET", regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/configuration$`), (*Fake).lambdaGetConfig},
	{"PUT", regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/code$`), (*Fake).lambdaUpdateCode},
	{"PUT", regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/configuration$`), (*Fake).lambdaUpdateConfig},
	{"DELETE", regexp.MustCompile(`^/2015-03-31/functions/([^/]+)$`), (*Fake).lambdaDelete},
	{"GET", regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/policy$`), (*Fake).lambdaGetPolicy},
	{"POST", regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/policy$`), (*Fake).lambdaAddPermission},
	{"DELETE", regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/policy/([^/]+)$`), (*Fake).lambdaRemovePermission},
}

func (f *Fake) lambda(w http.ResponseWriter, r *http.Request, c *call) {
	for _, rt := range lambdaRoutes {
		if rt.method != r.Method {
			continue
		}
		if c.m = rt.re.FindStringSubmatch(r.URL.EscapedPath()); c.m != nil {
			for i := range c.m {
				c.m[i] = unescapePath(c.m[i])
			}
			f.mu.Lock()
			status, out, err := rt.fn(f, c)
			f.mu.Unlock()
			if err != nil {
				writeLambdaError(w, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			if out != nil {
				json.NewEncoder(w).Encode(out)
			}
			return
		}
	}
	writeLambdaError(w, errorf(404, "UnknownOperationException", "Unknown operation %s %s", r.Method, r.URL.Path))
}

func writeLambdaError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": e.msg})
}

func invalidParam(format string, args ...any) *apiError {
	return errorf(400, "InvalidParameterValueException", format, args...)
}

// Function returns a copy of a function, and whether it exists.
func (f *Fake) Function(name string) (Function, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn := f.Functions[name]
	if fn == nil {
		return Function{}, false
	}
	out := *fn
	out.Policy = slices.Clone(fn.Policy)
	return out, true
}

// function finds a function by name or ARN.
func (f *Fake) function(ref string) (*Function, *apiError) {
	name := ref
	if i := strings.LastIndex(ref, ":function:"); i >= 0 {
		name = ref[i+len(":function:"):]
	}
	fn := f.Functions[name]
	if fn == nil {
		return nil, errorf(404, "ResourceNotFoundException", "Function not found: arn:aws:lambda:%s:%s:function:%s", f.region, f.Account, name)
	}
	f.settle(fn)
	return fn, nil
}

// settle ends a function's Pending state or update once FunctionSettle
// has passed.
func (f *Fake) settle(fn *Function) {
	if fn.updating && !f.Clock.Now().Before(fn.updated.Add(f.FunctionSettle)) {
		fn.updating = false
	}
}

func (f *Fake) state(fn *Function) (state, last string) {
	state, last = "Active", "Successful"
	if f.Clock.Now().Before(fn.created.Add(f.FunctionSettle)) {
		state = "Pending"
	}
	if fn.inactive {
		state = "Inactive"
	}
	if fn.updating {
		last = "InProgress"
	}
	return state, last
}

type fnConfigOut struct {
	FunctionName     string         `json:"FunctionName"`
	FunctionArn      string         `json:"FunctionArn"`
	Runtime          string         `json:"Runtime"`
	Role             string         `json:"Role"`
	Handler          string         `json:"Handler"`
	CodeSize         int64          `json:"CodeSize"`
	CodeSha256       string         `json:"CodeSha256"`
	Description      string         `json:"Description"`
	Timeout          int32          `json:"Timeout"`
	MemorySize       int32          `json:"MemorySize"`
	Version          string         `json:"Version"`
	Environment      map[string]any `json:"Environment,omitempty"`
	Architectures    []string       `json:"Architectures"`
	State            string         `json:"State"`
	LastUpdateStatus string         `json:"LastUpdateStatus"`
	PackageType      string         `json:"PackageType"`
	RevisionID       string         `json:"RevisionId"`
	LastModified     string         `json:"LastModified"`
}

func (f *Fake) fnConfig(fn *Function) fnConfigOut {
	state, last := f.state(fn)
	out := fnConfigOut{FunctionName: fn.Name, FunctionArn: fn.Arn, Runtime: fn.Runtime, Role: fn.Role, Handler: fn.Handler, CodeSize: fn.CodeSize,
		CodeSha256: fn.CodeSha256, Description: fn.Description, Timeout: fn.Timeout, MemorySize: fn.MemorySize, Version: "$LATEST",
		Architectures: []string{fn.Architecture}, State: state, LastUpdateStatus: last, PackageType: "Zip",
		RevisionID: fmt.Sprintf("rev-%d", fn.revision), LastModified: fn.updated.UTC().Format("2006-01-02T15:04:05.000-0700")}
	if len(fn.Env) > 0 {
		out.Environment = map[string]any{"Variables": fn.Env}
	}
	return out
}

type fnIn struct {
	FunctionName  string   `json:"FunctionName"`
	Runtime       *string  `json:"Runtime"`
	Role          *string  `json:"Role"`
	Handler       *string  `json:"Handler"`
	Description   *string  `json:"Description"`
	Timeout       *int32   `json:"Timeout"`
	MemorySize    *int32   `json:"MemorySize"`
	Architectures []string `json:"Architectures"`
	Environment   *struct {
		Variables map[string]string `json:"Variables"`
	} `json:"Environment"`
	Code *struct {
		ZipFile []byte `json:"ZipFile"`
	} `json:"Code"`
	ZipFile    []byte `json:"ZipFile"`
	RevisionID string `json:"RevisionId"`
}

// checkRole is Lambda assuming the role: it must exist, trust Lambda, and
// have propagated.
func (f *Fake) checkRole(arn string) *apiError {
	m := roleArnRE.FindStringSubmatch(arn)
	if m == nil {
		return errorf(400, "ValidationException", "1 validation error detected: Value '%s' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+", arn)
	}
	r := f.Roles[m[1]]
	if r == nil || r.Arn != arn || !trustsLambda(r.AssumeRolePolicy) || f.Clock.Now().Before(r.changed.Add(f.RolePropagation)) {
		return invalidParam("The role defined for the function cannot be assumed by Lambda.")
	}
	return nil
}

func checkEnv(env map[string]string) *apiError {
	b, _ := json.Marshal(env)
	if len(b) > 4096 {
		return invalidParam("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %s", b)
	}
	for k := range env {
		if !regexp.MustCompile(`^[a-zA-Z]\w*$`).MatchString(k) || strings.HasPrefix(k, "AWS_") {
			return invalidParam("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", k)
		}
	}
	return nil
}

// readZip checks a deployment package and says whether it has an
// executable bootstrap at its root.
func readZip(data []byte) (sum string, bootstrap bool, e *apiError) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(data) == 0 {
		return "", false, invalidParam("Could not unzip uploaded file. Please check your file, then try to upload again.")
	}
	for _, zf := range zr.File {
		if zf.Name == "bootstrap" && zf.Mode()&0o111 != 0 {
			bootstrap = true
		}
	}
	h := sha256.Sum256(data)
	return base64.StdEncoding.EncodeToString(h[:]), bootstrap, nil
}

func checkArch(archs []string) (string, *apiError) {
	if len(archs) == 0 {
		return "x86_64", nil
	}
	if len(archs) != 1 || (archs[0] != "arm64" && archs[0] != "x86_64") {
		return "", errorf(400, "ValidationException", "1 validation error detected: Value '%v' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1, Member must satisfy enum value set: [x86_64, arm64]", archs)
	}
	return archs[0], nil
}

func (f *Fake) lambdaCreate(c *call) (int, any, *apiError) {
	var in fnIn
	if err := json.Unmarshal(c.body, &in); err != nil {
		return 0, nil, errorf(400, "ValidationException", "Could not parse request body into json: %v", err)
	}
	if !fnNameRE.MatchString(in.FunctionName) {
		return 0, nil, errorf(400, "ValidationException", "1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint", in.FunctionName)
	}
	if f.Functions[in.FunctionName] != nil {
		return 0, nil, errorf(409, "ResourceConflictException", "Function already exist: %s", in.FunctionName)
	}
	if in.Role == nil || in.Code == nil {
		return 0, nil, errorf(400, "ValidationException", "Role and Code are required")
	}
	runtime, handler := deref(in.Runtime), deref(in.Handler)
	if !slices.Contains(runtimes, runtime) {
		return 0, nil, invalidParam("Value %s at 'runtime' failed to satisfy constraint: Member must satisfy enum value set", runtime)
	}
	if handler == "" {
		return 0, nil, invalidParam("Handler is required for a Zip package")
	}
	arch, err := checkArch(in.Architectures)
	if err != nil {
		return 0, nil, err
	}
	var env map[string]string
	if in.Environment != nil {
		env = in.Environment.Variables
	}
	if err := checkEnv(env); err != nil {
		return 0, nil, err
	}
	sum, boot, err := readZip(in.Code.ZipFile)
	if err != nil {
		return 0, nil, err
	}
	if err := f.checkRole(*in.Role); err != nil {
		return 0, nil, err
	}
	now := f.Clock.Now()
	fn := &Function{Name: in.FunctionName, Arn: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", c.region, f.Account, in.FunctionName),
		Role: *in.Role, Runtime: runtime, Handler: handler, Architecture: arch, Description: deref(in.Description), Env: env,
		CodeSha256: sum, CodeSize: int64(len(in.Code.ZipFile)), HasBootstrap: boot, Timeout: 3, MemorySize: 128, created: now, updated: now}
	if in.Timeout != nil {
		fn.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		fn.MemorySize = *in.MemorySize
	}
	f.Functions[fn.Name] = fn
	return 201, f.fnConfig(fn), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (f *Fake) lambdaGet(c *call) (int, any, *apiError) {
	fn, err := f.function(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"Configuration": f.fnConfig(fn), "Code": map[string]string{"RepositoryType": "S3", "Location": "https://awslambda.example/" + fn.Name}}, nil
}

func (f *Fake) lambdaGetConfig(c *call) (int, any, *apiError) {
	fn, err := f.function(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	return 200, f.fnConfig(fn), nil
}

// startFnUpdate refuses an update while the function is Pending or
// another update runs.
func (f *Fake) startFnUpdate(fn *Function, rev string) *apiError {
	state, last := f.state(fn)
	if state == "Pending" {
		return errorf(409, "ResourceConflictException", "The operation cannot be performed at this time. The function is currently in the following state: Pending")
	}
	if last == "InProgress" {
		return errorf(409, "ResourceConflictException", "The operation cannot be performed at this time. An update is in progress for resource: %s", fn.Arn)
	}
	if rev != "" && rev != fmt.Sprintf("rev-%d", fn.revision) {
		return errorf(412, "PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
	}
	return nil
}

func (f *Fake) finishFnUpdate(fn *Function) {
	fn.updating, fn.updated, fn.inactive = true, f.Clock.Now(), false
	fn.revision++
	fn.Updates++
}

// beginFnUpdate is what both update calls do first: find the function,
// read the request, and refuse it while another update is in progress or
// the revision asked for is not the current one.
func (f *Fake) beginFnUpdate(c *call) (*Function, fnIn, *apiError) {
	var in fnIn
	fn, err := f.function(c.m[1])
	if err != nil {
		return nil, in, err
	}
	if json.Unmarshal(c.body, &in) != nil {
		return nil, in, errorf(400, "ValidationException", "Could not parse request body into json")
	}
	if err := f.startFnUpdate(fn, in.RevisionID); err != nil {
		return nil, in, err
	}
	return fn, in, nil
}

func (f *Fake) lambdaUpdateCode(c *call) (int, any, *apiError) {
	fn, in, err := f.beginFnUpdate(c)
	if err != nil {
		return 0, nil, err
	}
	sum, boot, err := readZip(in.ZipFile)
	if err != nil {
		return 0, nil, err
	}
	arch := fn.Architecture
	if len(in.Architectures) > 0 {
		if arch, err = checkArch(in.Architectures); err != nil {
			return 0, nil, err
		}
	}
	fn.CodeSha256, fn.CodeSize, fn.HasBootstrap, fn.Architecture = sum, int64(len(in.ZipFile)), boot, arch
	f.finishFnUpdate(fn)
	return 200, f.fnConfig(fn), nil
}

func (f *Fake) lambdaUpdateConfig(c *call) (int, any, *apiError) {
	fn, in, err := f.beginFnUpdate(c)
	if err != nil {
		return 0, nil, err
	}
	next := *fn
	if in.Role != nil {
		if err := f.checkRole(*in.Role); err != nil {
			return 0, nil, err
		}
		next.Role = *in.Role
	}
	if in.Runtime != nil {
		if !slices.Contains(runtimes, *in.Runtime) {
			return 0, nil, invalidParam("Value %s at 'runtime' failed to satisfy constraint", *in.Runtime)
		}
		next.Runtime = *in.Runtime
	}
	if in.Handler != nil {
		next.Handler = *in.Handler
	}
	if in.Description != nil {
		next.Description = *in.Description
	}
	if in.Timeout != nil {
		next.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		next.MemorySize = *in.MemorySize
	}
	if in.Environment != nil {
		if err := checkEnv(in.Environment.Variables); err != nil {
			return 0, nil, err
		}
		next.Env = in.Environment.Variables
	}
	*fn = next
	f.finishFnUpdate(fn)
	return 200, f.fnConfig(fn), nil
}

func (f *Fake) lambdaDelete(c *call) (int, any, *apiError) {
	fn, err := f.function(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	delete(f.Functions, fn.Name)
	return 204, nil, nil
}

// policyJSON is a function's resource policy as GetPolicy returns it.
func policyJSON(fn *Function) string {
	var st []map[string]any
	for _, p := range fn.Policy {
		st = append(st, statementJSON(fn, p))
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Id": "default", "Statement": st})
	return string(b)
}

func statementJSON(fn *Function, p Permission) map[string]any {
	s := map[string]any{"Sid": p.Sid, "Effect": "Allow", "Principal": map[string]string{"Service": p.Principal}, "Action": p.Action, "Resource": fn.Arn}
	cond := map[string]any{}
	if p.SourceArn != "" {
		cond["ArnLike"] = map[string]string{"AWS:SourceArn": p.SourceArn}
	}
	if p.SourceAccount != "" {
		cond["StringEquals"] = map[string]string{"AWS:SourceAccount": p.SourceAccount}
	}
	if len(cond) > 0 {
		s["Condition"] = cond
	}
	return s
}

func (f *Fake) lambdaGetPolicy(c *call) (int, any, *apiError) {
	fn, err := f.function(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	if len(fn.Policy) == 0 {
		return 0, nil, errorf(404, "ResourceNotFoundException", "The resource you requested does not exist.")
	}
	return 200, map[string]string{"Policy": policyJSON(fn), "RevisionId": fmt.Sprintf("rev-%d", fn.revision)}, nil
}

func (f *Fake) lambdaAddPermission(c *call) (int, any, *apiError) {
	fn, err := f.function(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		StatementID   string `json:"StatementId"`
		Action        string `json:"Action"`
		Principal     string `json:"Principal"`
		SourceArn     string `json:"SourceArn"`
		SourceAccount string `json:"SourceAccount"`
	}
	if json.Unmarshal(c.body, &in) != nil || !sidRE.MatchString(in.StatementID) || in.Principal == "" {
		return 0, nil, errorf(400, "ValidationException", "StatementId, Action and Principal are required")
	}
	if !strings.HasPrefix(in.Action, "lambda:") {
		return 0, nil, invalidParam("The action %s is not valid", in.Action)
	}
	if in.SourceArn != "" && !strings.HasPrefix(in.SourceArn, "arn:") {
		return 0, nil, errorf(400, "ValidationException", "1 validation error detected: Value '%s' at 'sourceArn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)", in.SourceArn)
	}
	for _, p := range fn.Policy {
		if p.Sid == in.StatementID {
			return 0, nil, errorf(409, "ResourceConflictException", "The statement id (%s) provided already exists. Please provide a new statement id, or remove the existing statement.", in.StatementID)
		}
	}
	p := Permission{Sid: in.StatementID, Principal: in.Principal, Action: in.Action, SourceArn: in.SourceArn, SourceAccount: in.SourceAccount}
	fn.Policy = append(fn.Policy, p)
	fn.revision++
	b, _ := json.Marshal(statementJSON(fn, p))
	return 201, map[string]string{"Statement": string(b)}, nil
}

func (f *Fake) lambdaRemovePermission(c *call) (int, any, *apiError) {
	fn, err := f.function(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	for i, p := range fn.Policy {
		if p.Sid == c.m[2] {
			fn.Policy = slices.Delete(fn.Policy, i, i+1)
			fn.revision++
			return 204, nil, nil
		}
	}
	return 0, nil, errorf(404, "ResourceNotFoundException", "Statement %s is not found in resource policy.", c.m[2])
}
