package apigw

import (
	"context"
	"errors"
	"time"
)

// Backoff is how long to wait before retry n (from 0), and how many
// retries to make. API Gateway allowed one domain update per 30 seconds
// per account, so the defaults wait that long before giving up.
type Backoff struct {
	Base     time.Duration
	Max      time.Duration
	Attempts int
}

// DefaultBackoff retries for about two minutes.
var DefaultBackoff = Backoff{Base: 2 * time.Second, Max: 30 * time.Second, Attempts: 8}

func (b Backoff) delay(n int) time.Duration {
	d := b.Base << n
	if d > b.Max || d <= 0 {
		d = b.Max
	}
	return d
}

// retry runs fn again after throttling or a conflicting update, never
// starting a second update while one is in progress.
func (c *Client) retry(ctx context.Context, onRetry func(error, time.Duration), fn func() error) error {
	b := c.Backoff
	if b.Attempts == 0 {
		b = DefaultBackoff
	}
	for n := 0; ; n++ {
		err := fn()
		if err == nil || !(errors.Is(err, ErrThrottled) || errors.Is(err, ErrConflict)) || n >= b.Attempts {
			return err
		}
		d := b.delay(n)
		if onRetry != nil {
			onRetry(err, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}
