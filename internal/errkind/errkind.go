// Package errkind names the few kinds of failure that every apimtls
// package's errors belong to. A package owns its errors and says of each
// what kind it is (errkind.New for a sentinel, an ErrorKind method for a type);
// the command line maps kinds, not each package's sentinels, to its JSON
// codes and exit statuses. Messages say what happened; hints are the
// command line's.
package errkind

import "errors"

// Kind is a kind of failure.
type Kind uint8

// The kinds. Zero is none: an error no package classified.
const (
	// NotFound: a CA, client, file, domain, bucket, object or version
	// that does not exist.
	NotFound Kind = iota + 1
	// Conflict: it exists already, is taken, changed meanwhile, or is
	// being changed by someone else.
	Conflict
	// Invalid: input (a name, file, value, passphrase, certificate,
	// truststore, record) was read and refused.
	Invalid
	// Refused: a safety check refused an operation that would do harm
	// (un-revoke, certify a compromised key, issue under a revoked CA).
	Refused
	// Locked: another process holds what is needed.
	Locked
	// External: AWS (or another service) refused, throttled, denied or
	// could not be reached.
	External
	// Interrupted: a signal stopped the work; running it again resumes.
	Interrupted
)

var names = [...]string{"", "not found", "conflict", "invalid", "refused", "locked", "external", "interrupted"}

func (k Kind) String() string {
	if int(k) < len(names) {
		return names[k]
	}
	return "unknown"
}

// Kinds is every kind, for tests and tables.
var Kinds = []Kind{NotFound, Conflict, Invalid, Refused, Locked, External, Interrupted}

// kinded is an error that says its kind.
type kinded interface{ ErrorKind() Kind }

// New returns a sentinel error of kind k, for errors.Is.
func New(k Kind, msg string) error { return &sentinel{k, msg} }

type sentinel struct {
	kind Kind
	msg  string
}

func (e *sentinel) Error() string   { return e.msg }
func (e *sentinel) ErrorKind() Kind { return e.kind }

// Of is the kind of err: that of the outermost error in its chain that
// says one (errors.As order), 0 when none does.
func Of(err error) Kind {
	var k kinded
	if errors.As(err, &k) {
		return k.ErrorKind()
	}
	return 0
}
