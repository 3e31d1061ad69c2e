package apigw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/aws/smithy-go"
)

func TestRetry(t *testing.T) {
	c := &Client{Backoff: Backoff{Base: time.Millisecond, Max: 4 * time.Millisecond, Attempts: 3}, Quotas: &Quotas{}}
	for _, tc := range []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   error
	}{
		{"success at once", []error{nil}, 1, nil},
		{"throttled then success", []error{fmt.Errorf("x: %w", ErrThrottled), nil}, 2, nil},
		{"conflict then success", []error{fmt.Errorf("x: %w", ErrConflict), fmt.Errorf("x: %w", ErrConflict), nil}, 3, nil},
		{"gives up after the attempts", []error{ErrThrottled, ErrThrottled, ErrThrottled, ErrThrottled, nil}, 4, ErrThrottled},
		{"other errors are not retried", []error{ErrBadRequest, nil}, 1, ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, waits := 0, 0
			err := c.write(context.Background(), domainWrite, func(Wait) { waits++ }, func() error {
				e := tc.errs[calls]
				calls++
				return e
			})
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("calls %d err %v, want %d and %v", calls, err, tc.wantCalls, tc.wantErr)
			}
			if waits != calls-1 && tc.wantErr != ErrBadRequest {
				t.Fatalf("%d waits announced for %d calls", waits, calls)
			}
		})
	}
	t.Run("a cancelled context stops waiting", func(t *testing.T) {
		slow := &Client{Backoff: Backoff{Base: time.Hour, Max: time.Hour, Attempts: 5}}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := slow.write(ctx, domainWrite, nil, func() error { return ErrThrottled })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	if d := DefaultBackoff.delay(10); d != DefaultBackoff.Max {
		t.Fatalf("delay(10) = %s, want the cap %s", d, DefaultBackoff.Max)
	}
}

func TestDomainProblems(t *testing.T) {
	ok := &Domain{Name: "d", EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", Status: StatusAvailable}
	if p := DomainProblems(ok); len(p) != 0 {
		t.Fatalf("a fit domain has problems: %q", p)
	}
	bad := &Domain{Name: "d", EndpointType: "EDGE", SecurityPolicy: "SecurityPolicy_TLS13_1_3_2025_09", Status: "PENDING_CERTIFICATE_REIMPORT"}
	if p := DomainProblems(bad); len(p) != 3 {
		t.Fatalf("problems %q, want three", p)
	}
}

func TestEveryReadsEveryPage(t *testing.T) {
	pages := map[string][]int{"": {1, 2}, "b": {3}, "c": {4, 5}}
	next := map[string]string{"": "b", "b": "c", "c": ""}
	var seen []string
	got, err := every(func(tok *string) ([]int, *string, error) {
		k := ""
		if tok != nil {
			k = *tok
		}
		seen = append(seen, k)
		n := next[k]
		return pages[k], &n, nil
	})
	if err != nil || fmt.Sprint(got) != "[1 2 3 4 5]" || len(seen) != 3 {
		t.Fatalf("got %v after pages %q, err %v", got, seen, err)
	}
	boom := errors.New("boom")
	if _, err := every(func(*string) ([]int, *string, error) { return nil, nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
}

// The wait after a 429 is what AWS asked for in Retry-After: the SDK's
// error must survive classification for write to find it.
func TestRetryAfterSurvivesClassify(t *testing.T) {
	resp := &smithyhttp.Response{Response: &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": []string{"7"}}}}
	sdkErr := &smithy.OperationError{ServiceID: "ApiGatewayV2", OperationName: "UpdateDomainName",
		Err: &smithyhttp.ResponseError{Response: resp, Err: &smithy.GenericAPIError{Code: "TooManyRequestsException", Message: "Too Many Requests"}}}
	err := classify(sdkErr, "update domain d")
	if !errors.Is(err, ErrThrottled) {
		t.Fatalf("%v is not ErrThrottled", err)
	}
	if d, ok := retryAfter(err); !ok || d != 7*time.Second {
		t.Fatalf("Retry-After read as %s, %v; want 7s", d, ok)
	}
}
