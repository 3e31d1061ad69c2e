package errkind

import (
	"errors"
	"fmt"
	"testing"
)

type typed struct{ inner error }

func (e *typed) Error() string   { return "typed" }
func (e *typed) ErrorKind() Kind { return Conflict }
func (e *typed) Unwrap() error   { return e.inner }

func TestOf(t *testing.T) {
	notFound := New(NotFound, "no such thing")
	for _, tc := range []struct {
		err  error
		want Kind
	}{
		{nil, 0},
		{errors.New("plain"), 0},
		{notFound, NotFound},
		{fmt.Errorf("read it: %w", notFound), NotFound},
		// The outermost kind wins: a conflict that wraps the record it
		// could not find is a conflict.
		{&typed{inner: notFound}, Conflict},
		{errors.Join(errors.New("plain"), notFound), NotFound},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("Of(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	if !errors.Is(fmt.Errorf("x: %w", notFound), notFound) {
		t.Fatal("a sentinel is not found by errors.Is")
	}
}
