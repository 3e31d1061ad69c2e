package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/internal/scripttest"
	"github.com/apimtls/apimtls/rollout"
)

// TestDocs runs the docs: every shell block of each document below, top to
// bottom as ONE testscript through scripttest.Run (MinIO, the fake control
// plane, the KMS fake, real openssl and curl), so that each block runs on
// what the blocks before it wrote, as a reader's terminal would. A block
// that cannot run here says why in the Markdown, right before it:
//
//	<!-- doc-test: skip REASON -->
//
// and the set-up a reader has but a fresh directory lacks (a passphrase
// file, a device's CSR, a custom domain in the fake API Gateway) is written
// the same way, as testscript commands the reader does not see:
//
//	<!-- doc-test: fake domain api.example.com rest -->
//
// The harness substitutes only what needs a real account, a free port or
// a minute of waiting (docTargets). Every README.md and docs/*.md file with
// a shell block (sh, bash, shell, console; an unlabelled block whose first
// line is a command is an error) must be a target, or TestDocs fails
// (uncovered): each block of a target runs or is skipped with its reason. internal/cli's TestDocs checks every command line of every
// doc and --help example statically; this one runs them.
//
// With APIMTLS_DOCS_ONLY=FILE it runs that Markdown file alone (the
// harness's own test, TestDocsHarnessFails, runs it in a child process).
func TestDocs(t *testing.T) {
	targets := docTargets(t)
	if only := os.Getenv("APIMTLS_DOCS_ONLY"); only != "" {
		targets = []docTarget{{path: only}}
	}
	dir := t.TempDir()
	env := docEnv(t)
	for _, d := range targets {
		data, err := os.ReadFile(d.path)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := parseDocBlocks(string(data))
		if err != nil {
			t.Fatalf("%s: %v", d.path, err)
		}
		ar, err := docScript(filepath.Base(d.path), blocks, d.subs, env)
		if err != nil {
			t.Fatalf("%s: %v", d.path, err)
		}
		name := strings.TrimSuffix(filepath.Base(d.path), ".md") + ".txtar"
		if err := os.WriteFile(filepath.Join(dir, name), txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
		var ran, skipped []string
		for _, b := range blocks {
			if b.skip != "" {
				skipped = append(skipped, fmt.Sprintf("%d (%s)", b.line, b.skip))
			} else {
				ran = append(ran, strconv.Itoa(b.line))
			}
		}
		t.Logf("%s: runs the blocks at lines %s; skips %s", d.path, orNone(strings.Join(ran, ", ")), orNone(strings.Join(skipped, "; ")))
	}
	if os.Getenv("APIMTLS_DOCS_ONLY") == "" {
		for _, f := range uncovered(t, targets) {
			t.Errorf("%s: not run by TestDocs: add it to docTargets, and run or skip (<!-- doc-test: skip REASON -->) each of its blocks", f)
		}
	}
	if os.Getenv("APIMTLS_DOCS_KEEP") != "" {
		t.Logf("generated scripts in %s", dir)
	}
	scripttest.Run(t, dir)
}

// docTarget is a document TestDocs runs and the substitutions it needs.
type docTarget struct {
	path string
	subs []docSub
}

// docSub replaces old with new in every shell block of a document. Each
// must match somewhere, so that a doc edit cannot leave one silently
// unused.
type docSub struct{ old, new string }

// docTargets are the documents whose shell blocks run, with what the
// harness substitutes: only what needs a real account, a port that
// another process on this machine may hold, or a minute of waiting.
func docTargets(t *testing.T) []docTarget {
	port := freePort(t)
	return []docTarget{
		{path: "README.md", subs: []docSub{
			// serve's default port, taken by whatever else runs here
			{"apimtls serve ", "apimtls serve --listen 127.0.0.1:" + port + " "},
			{"localhost:8443", "localhost:" + port},
			// MinIO is one Region, and refuses requests signed for another
			{"--region eu-west-1 ", "--region " + miniotest.Region + " "},
		}},
		{path: "docs/gateway.md"},
		{path: "docs/aws.md", subs: []docSub{
			// a bucket of its own: the README's run pushes to example-mtls-truststores
			{"--bucket example-mtls-pki", "--bucket $BUCKET"},
		}},
		{path: "docs/config.md", subs: []docSub{
			// a bucket of their own, made by the hidden set-up
			{"example-mtls-truststores", "$BUCKET"},
			{"example-prod-truststores", "$BUCKET-prod"},
		}},
		{path: "docs/performance.md"},
		{path: "docs/pki.md", subs: []docSub{
			// the fleet is the same at 300 as at 10,000: a minute less
			{"--count 10000 ", "--count 300 "},
		}},
		{path: "docs/team.md", subs: []docSub{
			{"s3://example-pki/team", "s3://$BUCKET/team"},
			{"--bucket example-pki ", "--bucket $BUCKET "},
		}},
		{path: "docs/truststore.md"},
		{path: "docs/revocation.md", subs: []docSub{
			// the runbook's bucket: $BUCKET, which scripttest names
			{"--bucket BUCKET", "--bucket $BUCKET"},
		}},
	}
}

// uncovered lists the documents with shell blocks (docs/*.md, README.md)
// that are not targets of TestDocs, so that a new document cannot slip in
// unchecked: a target's every block either runs or is skipped with its
// reason, as docScript makes it. docs/reference.md is generated from the
// command definitions (internal/cli's TestDocs checks it against them),
// so it cannot carry doc-test comments: it must have no shell block.
func uncovered(t *testing.T, targets []docTarget) []string {
	files, _ := filepath.Glob("docs/*.md")
	files = append(files, "README.md")
	var out []string
	for _, f := range files {
		covered := false
		for _, d := range targets {
			covered = covered || filepath.Clean(d.path) == filepath.Clean(f)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// reference.md is generated: its usage synopsis is an unlabelled
		// block that starts with "apimtls", as urfave/cli writes it
		blocks, err := parseDocBlocksIn(string(data), filepath.Base(f) != referenceDoc)
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if !covered && len(blocks) > 0 {
			out = append(out, fmt.Sprintf("%s (%d shell blocks)", f, len(blocks)))
		}
	}
	return out
}

// referenceDoc is generated (go test ./internal/cli -run
// TestReferenceIsCurrent -update-reference); it is not a target.
const referenceDoc = "reference.md"

// docBlock is a fenced shell block and the doc-test comments right
// before it.
type docBlock struct {
	line  int    // of the opening fence, from 1
	text  string // the commands, as the reader copies them
	skip  string // why it cannot run here; "" when it runs
	setup []string
}

var (
	docFence = regexp.MustCompile("^```(sh|bash|shell|console)\\s*$")
	anyFence = regexp.MustCompile("^```+([^`]*)$")
	// the first line of an unlabelled block that is a command, not
	// output: such a block must say it is shell, to be run or skipped
	docCommand = regexp.MustCompile(`^(\$ |apimtls |go |export |time |aws |curl |openssl |bench/|[A-Z][A-Z0-9_]*=\S* )`)
	docComment = regexp.MustCompile(`^<!--\s*doc-test:\s*(.*?)\s*-->$`)
)

// parseDocBlocks finds the shell blocks of a Markdown document and the
// doc-test comments before each. A comment that is not right before a
// block (only other doc-test comments between), a skip without a reason,
// or an unclosed block is an error.
func parseDocBlocks(doc string) ([]docBlock, error) { return parseDocBlocksIn(doc, true) }

// parseDocBlocksIn is parseDocBlocks; with unlabelled, a block with no
// language whose first line is a command (docCommand) is an error too, so
// that commands cannot escape the run by a missing "sh".
func parseDocBlocksIn(doc string, unlabelled bool) ([]docBlock, error) {
	var blocks []docBlock
	var pending []string
	pendingLine := 0
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if m := docComment.FindStringSubmatch(line); m != nil {
			if len(pending) == 0 {
				pendingLine = i + 1
			}
			pending = append(pending, m[1])
			continue
		}
		if strings.Contains(line, "doc-test:") {
			return nil, fmt.Errorf("line %d: a doc-test comment is one line: <!-- doc-test: ... -->", i+1)
		}
		if !docFence.MatchString(line) {
			if len(pending) > 0 {
				return nil, fmt.Errorf("line %d: doc-test comment not right before a shell block", pendingLine)
			}
			if m := anyFence.FindStringSubmatch(line); m != nil {
				// another language's block, or an unlabelled one: skip
				// to its end, so that its lines are not read as Markdown
				start, check := i+1, unlabelled && strings.TrimSpace(m[1]) == ""
				for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
					first := strings.TrimSpace(lines[i])
					if !check || first == "" || strings.HasPrefix(first, "# ") {
						continue // a comment: the next line tells
					}
					if check = false; docCommand.MatchString(first) {
						return nil, fmt.Errorf("line %d: an unlabelled block of commands: label it ```sh, then run it or skip it", start)
					}
				}
				if i == len(lines) {
					return nil, fmt.Errorf("line %d: block never closed", start)
				}
			}
			continue
		}
		b := docBlock{line: i + 1}
		indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " "))]
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		if i == len(lines) {
			return nil, fmt.Errorf("line %d: shell block never closed", b.line)
		}
		b.text = strings.Join(body, "\n") + "\n"
		for _, p := range pending {
			if reason, ok := strings.CutPrefix(p, "skip"); ok && (reason == "" || reason[0] == ' ') {
				if b.skip = strings.TrimSpace(reason); b.skip == "" {
					return nil, fmt.Errorf("line %d: doc-test: skip needs a reason", pendingLine)
				}
				continue
			}
			b.setup = append(b.setup, p)
		}
		if b.skip != "" && len(b.setup) > 0 {
			return nil, fmt.Errorf("line %d: a skipped block has no set-up", pendingLine)
		}
		pending = nil
		blocks = append(blocks, b)
	}
	if len(pending) > 0 {
		return nil, fmt.Errorf("line %d: doc-test comment not right before a shell block", pendingLine)
	}
	return blocks, nil
}

// docRunner runs one block file under bash -euo pipefail from the
// directory the script is in, and stops whatever the block left running
// in the background when it ends, passing or failing (a gateway left
// behind would hold the output open and hang the run).
const docRunner = `trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
. "$1"
`

// docScript makes the testscript that runs a document's blocks in order,
// each block a file of the archive run by bash -euo pipefail, skipped
// blocks as comments that say why.
func docScript(name string, blocks []docBlock, subs []docSub, env []string) (*txtar.Archive, error) {
	var s strings.Builder
	fmt.Fprintf(&s, "# %s, every shell block top to bottom, as TestDocs runs it\n", name)
	// As every script that needs MinIO: skipped without it, except under
	// CI=true, where scripttest fails the run instead.
	s.WriteString("[!minio] skip 'no MinIO (scripts/build-minio); under CI=true this fails instead'\n")
	s.WriteString("env HOME=$WORK/home\nmkdir $HOME\n")
	for _, kv := range env {
		fmt.Fprintf(&s, "env %s\n", kv)
	}
	ar := &txtar.Archive{Files: []txtar.File{{Name: ".doctest/run.sh", Data: []byte(docRunner)}}}
	used := make([]bool, len(subs))
	for _, b := range blocks {
		if b.skip != "" {
			fmt.Fprintf(&s, "\n# %s:%d skipped: %s\n", name, b.line, b.skip)
			continue
		}
		text := b.text
		for i, sub := range subs {
			if strings.Contains(text, sub.old) {
				used[i] = true
				text = strings.ReplaceAll(text, sub.old, sub.new)
			}
		}
		file := fmt.Sprintf(".doctest/%03d.sh", b.line)
		ar.Files = append(ar.Files, txtar.File{Name: file, Data: []byte(text)})
		fmt.Fprintf(&s, "\n# %s:%d\ncd $WORK\n", name, b.line)
		for _, c := range b.setup {
			s.WriteString(c + "\n")
		}
		fmt.Fprintf(&s, "exec bash -euo pipefail $WORK/.doctest/run.sh $WORK/%s\n", file)
	}
	for i, u := range used {
		if !u {
			return nil, fmt.Errorf("substitution of %q matches no block that runs", subs[i].old)
		}
	}
	ar.Comment = []byte(s.String())
	return ar, nil
}

// docEnv is what a reader's shell has that a testscript's lacks: a Go
// toolchain that builds offline from this machine's caches (the README
// builds apimtls), and $CHECKOUT, a copy of this checkout's tracked files,
// as a fresh clone has them.
func docEnv(t *testing.T) []string {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOTOOLCHAIN").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	v := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(v) != 3 {
		t.Fatalf("go env: %q", out)
	}
	return []string{"GOCACHE=" + v[0], "GOMODCACHE=" + v[1], "GOTOOLCHAIN=local", "GOPROXY=off", "GOFLAGS=-mod=readonly",
		"CHECKOUT=" + copyCheckout(t)}
}

// copyCheckout copies the files git tracks, as they are in the working
// tree, into a temporary directory.
func copyCheckout(t *testing.T) string {
	dst := filepath.Join(t.TempDir(), "apimtls")
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		info, err := os.Lstat(f)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the working tree, or a symlink
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		src, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(filepath.Join(dst, f), os.O_CREATE|os.O_WRONLY|os.O_EXCL, info.Mode().Perm())
		if err == nil {
			_, err = io.Copy(w, src)
			err = joinErr(err, w.Close())
		}
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func joinErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestDocsHarnessFails: a document whose block breaks fails TestDocs, at
// that block, and the same document without it passes, each block running
// on what the one before it wrote.
func TestDocsHarnessFails(t *testing.T) {
	if _, err := miniotest.Binary(); err != nil && os.Getenv("CI") != "true" {
		t.Skipf("the doc scripts skip without MinIO, so nothing could fail: %v", err)
	}
	const good = "# tiny\n\n" +
		"<!-- doc-test: skip needs a real account -->\n```sh\napimtls domain status api.example.com\n```\n\n" +
		"```sh\napimtls ca init\napimtls truststore build --out truststore.pem\n```\n\n" +
		"<!-- doc-test: exists truststore.pem -->\n```sh\napimtls truststore validate truststore.pem\n```\n"
	const broken = good + "\n```sh\n# the bundle was never written under this name\napimtls truststore validate bundle.pem\n```\n"
	for _, c := range []struct {
		name, doc string
		fail      bool
		want      []string
	}{
		{"good", good, false, []string{"runs the blocks at lines 8, 14; skips 4 (needs a real account)", "--- PASS: TestDocs/tiny"}},
		{"broken", broken, true, []string{"# tiny.md:18", "error: open bundle.pem: no such file", "--- FAIL: TestDocs/tiny"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := filepath.Join(t.TempDir(), "tiny.md")
			if err := os.WriteFile(doc, []byte(c.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run", "^TestDocs$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "APIMTLS_DOCS_ONLY="+doc)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if failed := err != nil; failed != c.fail {
				t.Fatalf("TestDocs failed: %v, want %v (%v):\n%s", failed, c.fail, err, out.String())
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("TestDocs output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestDocsParse: the doc-test comments are checked, so that a typo cannot
// turn a block into one that silently does not run.
func TestDocsParse(t *testing.T) {
	for _, c := range []struct{ doc, err string }{
		{"<!-- doc-test: skip -->\n```sh\nls\n```\n", "skip needs a reason"},
		{"<!-- doc-test: exists x -->\n\ntext\n```sh\nls\n```\n", "not right before a shell block"},
		{"<!-- doc-test: exists x -->\n", "not right before a shell block"},
		{"<!-- doc-test: skip why -->\n<!-- doc-test: exists x -->\n```sh\nls\n```\n", "skipped block has no set-up"},
		{"```sh\nls\n", "never closed"},
		{"<!-- doc-test: exists\n x -->\n```sh\nls\n```\n", "one line"},
	} {
		if _, err := parseDocBlocks(c.doc); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: %v, want %q", c.doc, err, c.err)
		}
	}
	for _, c := range []struct{ doc, err string }{
		{"```\napimtls ca init\n```\n", "unlabelled block of commands"},
		{"```\n# the root\n\nexport APIMTLS_DIR=x\n```\n", "unlabelled block of commands"},
		{"<!-- doc-test: exists x -->\n```json\n{}\n```\n", "not right before a shell block"},
		{"```json\n{}\n", "never closed"},
	} {
		if _, err := parseDocBlocks(c.doc); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: %v, want %q", c.doc, err, c.err)
		}
	}
	// output, a layout, another language: not commands; inside them a
	// fence-like line is not a shell block
	if blocks, err := parseDocBlocks("```\nKEY  VALUE\n```\n```text\napimtls ca init\n```\n```json\n{\"a\": \"```sh\"}\n```\n"); err != nil || len(blocks) != 0 {
		t.Errorf("%+v %v", blocks, err)
	}
	if blocks, err := parseDocBlocks("```console\napimtls ca init\n```\n"); err != nil || len(blocks) != 1 {
		t.Errorf("a console block: %+v %v", blocks, err)
	}
	blocks, err := parseDocBlocks("a\n\n<!-- doc-test: skip no account -->\n```sh\nx\n```\n<!-- doc-test: exists f -->\n```bash\ny\n```\n```json\n{}\n```\n")
	if err != nil || len(blocks) != 2 || blocks[0].skip != "no account" || blocks[1].setup[0] != "exists f" || blocks[1].text != "y\n" {
		t.Fatalf("%+v %v", blocks, err)
	}
	if _, err := docScript("x.md", blocks, []docSub{{"nowhere", "z"}}, nil); err == nil {
		t.Error("an unused substitution passed")
	}
}

// TestDocsAuthorizerNames: revocation.md's "Deploying" section names what
// authorizer deploy creates, and shows the role policy it writes.
func TestDocsAuthorizerNames(t *testing.T) {
	data, err := os.ReadFile("docs/revocation.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	_, section, _ := strings.Cut(doc, "### IAM policy of the function")
	_, policy, ok := strings.Cut(section, "```json\n")
	policy, _, _ = strings.Cut(policy, "```")
	if !ok {
		t.Fatal("revocation.md has no IAM policy of the function")
	}
	const api, account, region, bucket = "a1b2c3d4e5", "111122223333", "eu-west-1", "example-mtls-truststores"
	policy = strings.NewReplacer("BUCKET", bucket, "REGION", region, "ACCOUNT", account, "API_ID", api).Replace(policy)
	fn := rollout.DefaultFunctionName(api)
	want := rollout.RolePolicy(rollout.AuthorizerInput{APIID: api, Region: region, Bucket: bucket, Key: "truststore.pem", Prefix: "crl/", FunctionName: fn}, account)
	if got, want := canonicalJSON(t, policy), canonicalJSON(t, want); got != want {
		t.Errorf("revocation.md's role policy is not the one deploy creates:\n doc    %s\n deploy %s", got, want)
	}
	// The names, in the placeholders the section uses: API_ID in prose,
	// API in the AWS CLI commands, ${Api} in CloudFormation.
	for _, name := range []string{
		"`" + rollout.DefaultFunctionName("API_ID") + "`",
		"`/aws/lambda/" + rollout.DefaultFunctionName("API_ID") + "`",
		"`" + rollout.RoleName(rollout.DefaultFunctionName("API_ID")) + "`",
		"`" + rollout.RolePolicyName + "`",
		"`" + rollout.StatementID("API_ID") + "`",
		"`" + rollout.AuthorizerName + "`",
		"aws logs tail /aws/lambda/" + rollout.DefaultFunctionName("API_ID") + " ",
		"--function-name " + rollout.DefaultFunctionName("API") + " ",
		"role/" + rollout.RoleName(rollout.DefaultFunctionName("API")) + " ",
		"function:" + rollout.DefaultFunctionName("API") + "/invocations",
		"--statement-id " + rollout.StatementID("API") + " ",
		"--source-arn '" + rollout.SourceArn("REGION", "ACCOUNT", "API") + "'",
		"--name " + rollout.AuthorizerName + " ",
		"FunctionName: !Sub " + rollout.DefaultFunctionName("${Api}") + "\n",
		"SourceArn: !Sub " + rollout.SourceArn("${AWS::Region}", "${AWS::AccountId}", "${Api}") + "\n",
		"Name: " + rollout.AuthorizerName + "\n",
	} {
		if !strings.Contains(doc, name) {
			t.Errorf("revocation.md does not say %q", name)
		}
	}
	for _, stale := range []string{"/aws/lambda/apimtls-authorizer ", "/aws/lambda/apimtls-authorizer:", "function-name apimtls-authorizer ", "FunctionName: apimtls-authorizer\n"} {
		if strings.Contains(doc, stale) {
			t.Errorf("revocation.md still says %q", stale)
		}
	}
}

func canonicalJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v:\n%s", err, s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDocsUncovered: a document with shell blocks that is not a target
// fails TestDocs, so that a new one cannot slip in unchecked; today every
// one is a target.
func TestDocsUncovered(t *testing.T) {
	targets := docTargets(t)
	if got := uncovered(t, targets); len(got) != 0 {
		t.Errorf("uncovered with every target: %v", got)
	}
	var fewer []docTarget
	for _, d := range targets {
		if d.path != "docs/pki.md" {
			fewer = append(fewer, d)
		}
	}
	if got := uncovered(t, fewer); len(got) != 1 || !strings.HasPrefix(got[0], "docs/pki.md (") {
		t.Errorf("uncovered without docs/pki.md: %v", got)
	}
}
