package apigw

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Clock is the time apigw waits by: real time in the tool, a test clock
// (shared with the fake control plane) in tests, so a 30-second quota
// costs a test nothing.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// Quotas are API Gateway's account-level limits on the calls that change
// things (docs/apigateway-rules.md, "Quotas"): apimtls spaces its own calls
// by them, so it does not throttle itself.
type Quotas struct {
	// DomainWrite is the interval between CreateDomainName or
	// UpdateDomainName calls in an account.
	DomainWrite time.Duration
	// Deployment is the interval between CreateDeployment calls.
	Deployment time.Duration
	// Control is the interval between other changes (authorizers, routes,
	// methods): the account's 10 requests per second.
	Control time.Duration
}

// AWSQuotas are the limits AWS documents.
var AWSQuotas = Quotas{DomainWrite: 30 * time.Second, Deployment: 5 * time.Second, Control: 100 * time.Millisecond}

// Backoff is how long to wait before retry n (from 0) when AWS gives no
// Retry-After, and how many retries to make.
type Backoff struct {
	Base     time.Duration
	Max      time.Duration
	Attempts int
}

// DefaultBackoff retries for about three minutes, longer than the domain
// update quota, so a throttled update is retried past it.
var DefaultBackoff = Backoff{Base: 5 * time.Second, Max: 30 * time.Second, Attempts: 8}

func (b Backoff) delay(n int) time.Duration {
	d := b.Base << n
	if d > b.Max || d <= 0 {
		d = b.Max
	}
	return d
}

// Wait is a pause apimtls makes, told to the caller so people see it.
type Wait struct {
	// Reason is why: "throttled", "another update is running", or
	// "pacing" (spacing calls by the account's quota).
	Reason string
	Err    error
	For    time.Duration
}

// OnWait receives every pause; nil ignores them.
type OnWait func(Wait)

// kind of call a quota applies to.
type kind int

const (
	domainWrite kind = iota
	deployment
	control
)

// pacer remembers when this process last made each kind of quota-bound
// call.
type pacer struct {
	mu   sync.Mutex
	last map[kind]time.Time
}

// ClockOrReal is the client's Clock, or the real one when none is set
// (or there is no client): what every wait of a workflow goes by.
func (c *Client) ClockOrReal() Clock {
	if c == nil || c.Clock == nil {
		return RealClock
	}
	return c.Clock
}

func (c *Client) interval(k kind) time.Duration {
	q := c.Quotas
	if q == nil {
		q = &AWSQuotas
	}
	switch k {
	case domainWrite:
		return q.DomainWrite
	case control:
		return q.Control
	}
	return q.Deployment
}

// pace waits until a call of kind k keeps to the quota, and marks it made.
func (c *Client) pace(ctx context.Context, k kind, onWait OnWait) error {
	c.pacer.mu.Lock()
	if c.pacer.last == nil {
		c.pacer.last = map[kind]time.Time{}
	}
	last, ok := c.pacer.last[k]
	c.pacer.mu.Unlock()
	if ok {
		if d := last.Add(c.interval(k)).Sub(c.ClockOrReal().Now()); d > 0 {
			if onWait != nil {
				onWait(Wait{Reason: "pacing", For: d})
			}
			if err := c.ClockOrReal().Sleep(ctx, d); err != nil {
				return err
			}
		}
	}
	c.pacer.mu.Lock()
	c.pacer.last[k] = c.ClockOrReal().Now()
	c.pacer.mu.Unlock()
	return nil
}

// retryAfter reads the Retry-After header AWS sends with a 429.
func retryAfter(err error) (time.Duration, bool) {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return 0, false
	}
	s, err2 := strconv.Atoi(re.Response.Header.Get("Retry-After"))
	if err2 != nil || s < 0 {
		return 0, false
	}
	return time.Duration(s) * time.Second, true
}

// write makes one quota-bound call: paced, then retried after throttling
// and conflicting updates (waiting as long as AWS asks, or backing off),
// never starting a second update while one is in progress. The SDK's own
// retries are off for these calls (see NoSDKRetry): its quick retries
// would only burn the quota.
func (c *Client) write(ctx context.Context, k kind, onWait OnWait, fn func() error) error {
	b := c.Backoff
	if b.Attempts == 0 {
		b = DefaultBackoff
	}
	for n := 0; ; n++ {
		if err := c.pace(ctx, k, onWait); err != nil {
			return err
		}
		err := fn()
		if err == nil || !(errors.Is(err, ErrThrottled) || errors.Is(err, ErrConflict)) || n >= b.Attempts {
			return err
		}
		d, ok := retryAfter(err)
		if !ok {
			d = b.delay(n)
		}
		reason := "throttled"
		if errors.Is(err, ErrConflict) {
			reason = "another update is running"
		}
		if onWait != nil {
			onWait(Wait{Reason: reason, Err: err, For: d})
		}
		if err := c.ClockOrReal().Sleep(ctx, d); err != nil {
			return err
		}
	}
}
