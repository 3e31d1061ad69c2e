// Package rotate replaces a CA (an issuing CA or the root) behind a custom
// domain without refusing a client, in recorded phases: (1) the successor
// CA, (2) a truststore trusting both, pushed and pointed at, (3) every
// client apimtls holds the key for re-issued by the successor, and the
// CSR-signed devices listed, (4) with Finish, the old CA dropped from the
// truststore once nothing valid depends on it. The phase reached is
// recorded in rotation/<ca>.json after each phase; like setup, each phase
// also checks the real state, so a run after a crash in any phase resumes
// there without making anything twice.
package rotate

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/rollout"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/x509cert"
)

// DefaultSettle is how long apimtls waits after pointing the domain at a
// new truststore: API Gateway takes about a minute to load it on every
// node (docs/apigateway-rules.md), and until then some nodes still use the
// previous one.
const DefaultSettle = 60 * time.Second

// Input is what apimtls rotate ca was asked.
type Input struct {
	Dir string
	// Open opens the PKI store for writing or reading; nil: the local
	// PKI directory Dir (a shared store passes its own).
	Open        func(write bool) (*pki.Store, error)
	CA          string
	Successor   string // default: NextName(CA)
	Domain      string
	Bucket, Key string
	Finish      bool
	Force       bool
	// Settle is the wait after pointing the domain; 0 takes DefaultSettle,
	// negative waits not at all.
	Settle time.Duration
	Wait   rollout.Wait
	// ParentPassphrase opens the old CA's parent, which signs the
	// successor.
	ParentPassphrase x509cert.PassphraseFunc
	// SuccessorPassphrase opens the successor's key when it is encrypted
	// (a successor made by hand for an encrypted CA): phase 3 signs with it.
	SuccessorPassphrase x509cert.PassphraseFunc
}

// Result is the record after the run and what this run did (its JSON).
type Result struct {
	*Record
	Ran     []string `json:"ran"`
	Changed bool     `json:"changed"`
	// Dependents are the unexpired, unrevoked clients still depending on
	// the old CA that are not re-issued: --finish refuses while there are
	// any (--force refuses them instead).
	Dependents []Device `json:"dependents"`
}

// DependentsError is --finish refused: clients still need the old CA.
type DependentsError struct {
	CA         string
	Dependents []Device
}

func (e *DependentsError) Error() string {
	var names []string
	for _, d := range e.Dependents {
		names = append(names, d.Name)
	}
	verb := "depend"
	if len(e.Dependents) == 1 {
		verb = "depends"
	}
	return fmt.Sprintf("%s still %s on CA %s (%s): API Gateway would refuse them once it is dropped; nothing was changed",
		plural.Count(len(e.Dependents), "unexpired, unrevoked client"), verb, e.CA, strings.Join(names, ", "))
}

// Runner carries out a rotation.
type Runner struct {
	Rollout *rollout.Rollout
	Bucket  rollout.Bucket
	// Clock is what the settle wait goes by (default: the API client's).
	Clock apigw.Clock
	// AfterPhase, when set, is called after each phase that ran and was
	// recorded; an error stops the run there (tests inject crashes).
	// During phase 3 it is also called after each re-issued client, with
	// "reissue NAME".
	AfterPhase func(step string) error
	store      *pki.Store
}

var numbered = regexp.MustCompile(`^(.*)-([0-9]+)$`)

// NextName is the default successor's name: issuing -> issuing-2 ->
// issuing-3.
func NextName(name string) string {
	if m := numbered.FindStringSubmatch(name); m != nil {
		n, err := strconv.Atoi(m[2])
		if err == nil && n < 1_000_000 {
			return m[1] + "-" + strconv.Itoa(n+1)
		}
	}
	return name + "-2"
}

// now is the PKI's time, which records are stamped with.
func (r *Runner) now() time.Time { return r.store.Now() }

func (r *Runner) clock() apigw.Clock {
	if r.Clock != nil {
		return r.Clock
	}
	if r.Rollout == nil {
		return apigw.RealClock
	}
	return r.Rollout.API.ClockOrReal()
}

// Run carries the rotation of in.CA as far as it may go: to phase 3, or
// to 4 with Finish.
func (r *Runner) Run(ctx context.Context, in Input) (*Result, error) {
	if in.Key == "" {
		in.Key = pki.TruststoreFile
	}
	if in.Domain == "" || in.Bucket == "" {
		return nil, errors.New("rotate ca needs --domain and --bucket")
	}
	if err := s3store.CheckBucketName(in.Bucket); err != nil {
		return nil, err
	}
	open := in.Open
	if open == nil {
		open = func(write bool) (*pki.Store, error) { return pki.OpenStore(in.Dir, write) }
	}
	st, err := open(true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	r.store = st
	old, err := st.Lookup(pki.KindRoot, in.CA)
	if err != nil {
		return nil, err
	}
	rec, err := Load(in.Dir, in.CA)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		given := in.Successor != ""
		if !given {
			in.Successor = NextName(in.CA)
		}
		if err := pki.CheckName(in.Successor); err != nil {
			return nil, err
		}
		if (old.KMSKeyARN != "" || old.KeyEncrypted) && !given {
			return nil, fmt.Errorf("CA %s keeps its key in KMS or encrypted: rotate ca makes an unencrypted file key for the successor, so it refuses rather than weaken the key; create the successor with apimtls ca intermediate (or ca init), then run rotate ca with --successor NAME", in.CA)
		}
		rec = &Record{CA: in.CA, Serial: old.Serial, Successor: in.Successor, Domain: in.Domain, Bucket: in.Bucket, Key: in.Key,
			Reissued: []Reissue{}, Devices: []Device{}, StartedAt: r.now().UTC(), SuccessorGiven: given}
		if err := rec.save(in.Dir, PhaseStarted, r.now()); err != nil {
			return nil, err
		}
	} else if err := sameRotation(rec, old, in); err != nil {
		return nil, err
	}
	res := &Result{Record: rec, Ran: []string{}, Dependents: []Device{}}
	phases := []struct {
		phase int
		run   func(context.Context, *pki.Record, *Record, Input) error
	}{{PhaseSuccessor, r.successor}, {PhasePublished, r.publishBoth}, {PhaseReissued, r.reissue}}
	if in.Finish {
		phases = append(phases, struct {
			phase int
			run   func(context.Context, *pki.Record, *Record, Input) error
		}{PhaseFinished, r.finish})
	}
	for _, p := range phases {
		if rec.Phase >= p.phase {
			continue
		}
		if err := p.run(ctx, old, rec, in); err != nil {
			var de *DependentsError
			if errors.As(err, &de) {
				res.Dependents = de.Dependents
			}
			return res, fmt.Errorf("phase %d (%s): %w", p.phase, PhaseNames[p.phase], err)
		}
		if err := rec.save(in.Dir, p.phase, r.now()); err != nil {
			return res, err
		}
		res.Ran, res.Changed = append(res.Ran, PhaseNames[p.phase]), true
		if err := r.after(PhaseNames[p.phase]); err != nil {
			return res, err
		}
	}
	if rec.Phase < PhaseFinished {
		deps, err := r.dependents(old, rec)
		if err != nil {
			return res, err
		}
		res.Dependents = deps
	}
	return res, nil
}

func (r *Runner) after(step string) error {
	if r.AfterPhase == nil {
		return nil
	}
	return r.AfterPhase(step)
}

// sameRotation refuses a run that asks something else of a recorded one.
func sameRotation(rec *Record, old *pki.Record, in Input) error {
	switch {
	case rec.Serial != old.Serial:
		return fmt.Errorf("the rotation recorded in rotation/%s.json is of certificate %s, but CA %s is now %s", rec.CA, rec.Serial, rec.CA, old.Serial)
	case in.Successor != "" && in.Successor != rec.Successor && rec.Phase == PhaseStarted:
		// Nothing made yet: the user may still name another successor.
		rec.Successor, rec.SuccessorGiven = in.Successor, true
		return pki.CheckName(in.Successor)
	case in.Successor != "" && in.Successor != rec.Successor:
		return fmt.Errorf("the rotation of CA %s in progress has successor %s, not %s: finish it first", rec.CA, rec.Successor, in.Successor)
	case in.Domain != rec.Domain || in.Bucket != rec.Bucket || in.Key != rec.Key:
		return fmt.Errorf("the rotation of CA %s in progress is for --domain %s --bucket %s --key %s: run it with those", rec.CA, rec.Domain, rec.Bucket, rec.Key)
	}
	return nil
}

// successor is phase 1: a CA with the same parent and profile (a root's
// successor is a new root). A successor found made by a run that crashed
// before recording it is adopted.
func (r *Runner) successor(_ context.Context, old *pki.Record, rec *Record, in Input) error {
	found, err := r.store.Lookup(pki.KindRoot, rec.Successor)
	var nf *pki.NotFoundError
	switch {
	case err == nil:
		// A CA made before the rotation is adopted only when the user named
		// it with --successor: one that merely has the default name is not.
		if found.Issuer != old.Issuer || found.Kind != old.Kind || (found.CreatedAt.Before(rec.StartedAt) && !rec.SuccessorGiven) {
			return fmt.Errorf("a CA named %s exists and was not made by this rotation (or has another parent): give --successor another name", rec.Successor)
		}
		if found.Status == pki.StatusRevoked {
			return fmt.Errorf("CA %s is revoked: it cannot succeed %s", rec.Successor, rec.CA)
		}
	case errors.As(err, &nf):
		cert, err := r.store.Certificate(old)
		if err != nil {
			return err
		}
		p := pki.CAParams{Name: rec.Successor, Parent: old.Issuer, CommonName: successorCN(cert.Subject.CommonName, rec.Successor),
			Organization: strings.Join(cert.Subject.Organization, " "), KeyType: old.KeyType, MaxPathLen: -1, ParentPassphrase: in.ParentPassphrase}
		if old.PathLen != nil && old.Kind == pki.KindIntermediate {
			p.MaxPathLen = *old.PathLen
		}
		if old.Kind == pki.KindRoot {
			p.Parent = ""
		}
		is, err := r.store.CreateCA(p)
		if err != nil {
			return err
		}
		found = is.Record
	default:
		return err
	}
	rec.SuccessorSerial = found.Serial
	return nil
}

func successorCN(cn, successor string) string {
	if cn == "" {
		return successor
	}
	return cn + " (" + successor + ")"
}

// publishBoth is phase 2: the truststore of every valid CA, which holds
// the old and the successor, pushed and pointed at.
func (r *Runner) publishBoth(ctx context.Context, old *pki.Record, rec *Record, in Input) error {
	return r.publish(ctx, rec, in, nil, []string{rec.CA, rec.Successor}, nil)
}

// publish builds the truststore of names (every valid CA when nil), checks
// it holds want and none of drop, writes it to truststore.pem, pushes it
// (an unchanged one is not uploaded again), points the domain at the
// version (nothing changes when it already is), and waits for it to settle.
func (r *Runner) publish(ctx context.Context, rec *Record, in Input, names, want, drop []string) error {
	b, err := r.store.BuildTruststore(names, nil, x509cert.ValidateOptions{})
	if err != nil {
		return err
	}
	if b.Report.Errors > 0 {
		return fmt.Errorf("the truststore has %d error(s): apimtls truststore validate", b.Report.Errors)
	}
	certs, err := x509cert.DecodeCertificates(b.PEM)
	if err != nil {
		return err
	}
	has := map[string]bool{}
	for _, c := range certs {
		has[x509cert.SerialHex(c)] = true
	}
	for _, n := range want {
		if cr, err := r.store.Lookup(pki.KindRoot, n); err != nil || !has[cr.Serial] {
			return fmt.Errorf("the truststore built does not hold CA %s (is it expired or revoked?)", n)
		}
	}
	for _, n := range drop {
		if cr, err := r.store.Lookup(pki.KindRoot, n); err != nil || has[cr.Serial] {
			return fmt.Errorf("the truststore built still holds CA %s: a CA still valid is under it; rotate that first", n)
		}
	}
	path := r.store.Layout().Truststore()
	if err := pki.WriteTruststore(path, b.PEM); err != nil {
		return err
	}
	out, err := rollout.Push(ctx, r.Bucket, r.Rollout.Validate, rollout.PushInput{PushInput: s3store.PushInput{Bucket: in.Bucket, Key: in.Key, Data: b.PEM}, Name: path,
		Record: func(p *s3store.PushResult) error {
			return pki.RecordPush(in.Dir, pki.PushedTruststore{URI: p.URI, Bucket: in.Bucket, Key: in.Key, VersionID: p.VersionID, SHA256: x509cert.SHA256Hex(b.PEM), PushedAt: time.Now().UTC()})
		}})
	if err != nil {
		return err
	}
	ts := apigw.Truststore{URI: out.URI, Version: out.VersionID}
	if _, err := r.Rollout.EnableMTLS(ctx, rollout.EnableInput{Domain: in.Domain, APIType: apigw.Auto, Truststore: ts, Wait: in.Wait}); err != nil {
		return err
	}
	rec.Truststore, rec.Version = ts.URI, ts.Version
	settle := in.Settle
	if settle == 0 {
		settle = DefaultSettle
	}
	if settle > 0 && !in.Wait.NoWait {
		if r.Rollout.Events != nil {
			r.Rollout.Events.Note(fmt.Sprintf("waiting %s for every API Gateway node to load truststore version %s", settle, ts.Version))
		}
		return r.clock().Sleep(ctx, settle)
	}
	return nil
}

// clientsOf lists the current client records whose chain holds CA rec.
func (r *Runner) clientsOf(old *pki.Record) ([]*pki.Record, error) {
	cas, err := r.store.CAs()
	if err != nil {
		return nil, err
	}
	under := map[string]bool{old.Serial: true}
	for changed := true; changed; {
		changed = false
		for _, c := range cas {
			if !under[c.Serial] && under[c.IssuerSerial] {
				under[c.Serial], changed = true, true
			}
		}
	}
	return r.store.List(func(c *pki.Record) bool { return c.Kind == pki.KindClient && under[c.IssuerSerial] })
}

// reissue is phase 3: each valid client of the old CA whose key apimtls
// holds is renewed from the successor (pki.RenewClients: same name,
// subject, SANs and key type, a new key; the old record superseded and
// linked to the new one). Each renewal is recorded as it is made, and one
// a crashed run made is adopted. CSR-signed clients are listed as devices.
func (r *Runner) reissue(ctx context.Context, old *pki.Record, rec *Record, in Input) error {
	clients, err := r.clientsOf(old)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, x := range rec.Reissued {
		done[x.Serial] = true
	}
	now := r.store.Now()
	rec.Devices = []Device{}
	for _, c := range clients {
		if done[c.Serial] || c.IssuerSerial != old.Serial {
			continue
		}
		newSerial, err := r.renewed(c, rec)
		switch {
		case err != nil:
			return fmt.Errorf("re-issue client %s: %w", c.Name, err)
		case newSerial == "" && c.StatusAt(now) != pki.StatusActive:
			continue
		case newSerial == "" && c.FromCSR:
			rec.Devices = append(rec.Devices, device(c))
			continue
		case newSerial == "":
			res, err := r.store.RenewClients([]*pki.Record{c}, pki.RenewParams{CA: rec.Successor, CAPassphrase: in.SuccessorPassphrase,
				// The device still has the old certificate until it is
				// given the new one; --finish drops the old CA instead.
				KeepPrevious: pki.KeepUntilExpiry})
			if err == nil && len(res.Failed) > 0 {
				err = errors.New(res.Failed[0].Reason)
			}
			if err != nil {
				return fmt.Errorf("re-issue client %s: %w", c.Name, err)
			}
			newSerial = res.Serials[c.Name]
		}
		rec.Reissued = append(rec.Reissued, Reissue{Name: c.Name, Serial: c.Serial, NewName: c.Name, SupersededBy: newSerial})
		if err := rec.save(in.Dir, rec.Phase, r.now()); err != nil {
			return err
		}
		if err := r.after("reissue " + c.Name); err != nil {
			return err
		}
	}
	return nil
}

// renewed is the serial of the successor's certificate that already
// replaced c (a run that crashed after the renewal), or "".
func (r *Runner) renewed(c *pki.Record, rec *Record) (string, error) {
	if c.Status != pki.StatusSuperseded || c.SupersededBy == "" {
		return "", nil
	}
	next, err := r.store.LookupSerial(c.SupersededBy)
	if err != nil || next == nil || next.IssuerSerial != rec.SuccessorSerial {
		return "", err
	}
	return next.Serial, nil
}

func device(c *pki.Record) Device {
	return Device{Name: c.Name, Serial: c.Serial, Subject: c.Subject, NotAfter: c.NotAfter}
}

// dependents are the valid clients of the old CA not re-issued.
func (r *Runner) dependents(old *pki.Record, rec *Record) ([]Device, error) {
	clients, err := r.clientsOf(old)
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for _, x := range rec.Reissued {
		done[x.Serial] = true
	}
	now := r.store.Now()
	out := []Device{}
	for _, c := range clients {
		if c.StatusAt(now) == pki.StatusActive && !done[c.Serial] {
			out = append(out, device(c))
		}
	}
	return out, nil
}

// finish is phase 4: refused while a valid client still depends on the
// old CA (unless Force, which records who will be refused); then the
// truststore without it, pushed and pointed at. Its CRL stays: crl push
// publishes every CA's, so the authorizer keeps checking the old clients
// until the last expires.
func (r *Runner) finish(ctx context.Context, old *pki.Record, rec *Record, in Input) error {
	deps, err := r.dependents(old, rec)
	if err != nil {
		return err
	}
	if len(deps) > 0 && !in.Force {
		return &DependentsError{CA: rec.CA, Dependents: deps}
	}
	rec.Refused = deps
	cas, err := r.store.CAs()
	if err != nil {
		return err
	}
	clients, err := r.clientsOf(old)
	if err != nil {
		return err
	}
	now := r.store.Now()
	var keep []string
	dropped := map[string]bool{old.Serial: true}
	for changed := true; changed; {
		changed = false
		for _, c := range cas {
			if !dropped[c.Serial] && dropped[c.IssuerSerial] {
				dropped[c.Serial], changed = true, true
			}
		}
	}
	for _, c := range cas {
		if !dropped[c.Serial] && c.StatusAt(now) == pki.StatusActive {
			keep = append(keep, c.Name)
		}
	}
	if len(keep) == 0 {
		return errors.New("no valid CA would be left in the truststore")
	}
	if err := r.publish(ctx, rec, in, keep, []string{rec.Successor}, []string{rec.CA}); err != nil {
		return err
	}
	until := now
	for _, c := range clients {
		if c.NotAfter.After(until) {
			until = c.NotAfter
		}
	}
	rec.CRLUntil = &until
	return nil
}

// ErrorKind says what kind of failure it is (errkind).
func (*DependentsError) ErrorKind() errkind.Kind { return errkind.Refused }
