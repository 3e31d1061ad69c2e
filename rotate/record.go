package rotate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/pki"
)

// The phases a rotation reaches, in order (docs/aws.md, "Rotating a CA").
const (
	PhaseStarted   = 0 // recorded, nothing made yet
	PhaseSuccessor = 1 // the successor CA exists
	PhasePublished = 2 // the domain trusts both CAs
	PhaseReissued  = 3 // every client apimtls holds the key for is re-issued
	PhaseFinished  = 4 // the old CA is out of the truststore
)

// PhaseNames say each phase in words.
var PhaseNames = []string{"started", "successor created", "both CAs trusted", "clients re-issued", "finished"}

// Reissue links a client of the old CA to its re-issue by the successor:
// the old record stays, superseded by the new one (docs/pki.md).
type Reissue struct {
	Name         string `json:"name"`
	Serial       string `json:"serial"`
	NewName      string `json:"new_name"`
	SupersededBy string `json:"superseded_by"`
}

// Device is a CSR-signed client of the old CA: its key is on the device,
// so it must send a new CSR to be signed by the successor.
type Device struct {
	Name     string    `json:"name"`
	Serial   string    `json:"serial"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
}

// Record is the rotation's phase record, rotation/<ca>.json: what has
// been reached, so a crash in any phase resumes there.
type Record struct {
	CA              string    `json:"ca"`
	Serial          string    `json:"serial"`
	Successor       string    `json:"successor"`
	SuccessorSerial string    `json:"successor_serial,omitempty"`
	Domain          string    `json:"domain"`
	Bucket          string    `json:"bucket"`
	Key             string    `json:"key"`
	Phase           int       `json:"phase"`
	PhaseName       string    `json:"phase_name"`
	Truststore      string    `json:"truststore,omitempty"`
	Version         string    `json:"truststore_version,omitempty"`
	Reissued        []Reissue `json:"reissued"`
	Devices         []Device  `json:"devices"`
	// Refused are the clients still depending on the old CA when --finish
	// --force dropped it: API Gateway refuses them from then on.
	Refused []Device `json:"refused,omitempty"`
	// CRLUntil is when the old CA's last certificate expires: crl push
	// keeps publishing its CRL at least until then.
	CRLUntil  *time.Time `json:"crl_until,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	// SuccessorGiven says the user named the successor (--successor): a CA
	// of that name made before the rotation, by hand, is adopted.
	SuccessorGiven bool      `json:"successor_given,omitempty"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Load reads the rotation record of CA name, or nil when there is none.
func Load(dir, name string) (*Record, error) {
	path := pki.Layout{Dir: dir}.Rotation(name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", path, err)
	}
	if r.Phase < PhaseStarted || r.Phase > PhaseFinished || r.CA != name {
		return nil, fmt.Errorf("%s is corrupt: phase %d of CA %q", path, r.Phase, r.CA)
	}
	return &r, nil
}

// List reads every rotation record, by CA name.
func List(dir string) ([]*Record, error) {
	entries, err := os.ReadDir(pki.Layout{Dir: dir}.Rotations())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		r, err := Load(dir, name)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CA < out[j].CA })
	return out, nil
}

// InProgress says, for domain status, each unfinished rotation of domain.
func InProgress(dir, domain string) ([]string, error) {
	recs, err := List(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range recs {
		if r.Domain == domain && r.Phase < PhaseFinished {
			out = append(out, r.Summary())
		}
	}
	return out, nil
}

// Summary is the record in one line.
func (r *Record) Summary() string {
	s := fmt.Sprintf("CA %s -> %s: phase %d of %d (%s)", r.CA, r.Successor, r.Phase, PhaseFinished, PhaseNames[r.Phase])
	if r.Phase >= PhaseReissued && r.Phase < PhaseFinished && len(r.Devices) > 0 {
		s += fmt.Sprintf("; %s must send a new CSR", plural.Count(len(r.Devices), "CSR-signed device"))
	}
	return s
}

// save writes the record atomically: the old file or the new, never a mix.
func (r *Record) save(dir string, phase int, now time.Time) error {
	r.Phase, r.PhaseName, r.UpdatedAt = phase, PhaseNames[phase], now.UTC()
	path := pki.Layout{Dir: dir}.Rotation(r.CA)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(path, append(data, '\n'), 0o644)
}
