package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// RetryPolicy says which errors of a remote call are worth another try and
// how long to keep trying. The zero value retries nothing.
type RetryPolicy struct {
	// Retryable reports whether err may succeed on a later call. Nil: no error is.
	Retryable func(err error) bool
	// Delay returns a wait the remote side asked for (Retry-After); the retry
	// waits at least that long, up to 10 minutes. Nil: none.
	Delay func(err error) (time.Duration, bool)
	// InitialInterval is the first wait. Default 200ms.
	InitialInterval time.Duration
	// MaxInterval caps each wait. Default 30s.
	MaxInterval time.Duration
	// MaxElapsed gives up once this much time has passed since the first
	// try. Default 5m; negative means keep trying until the context ends.
	MaxElapsed time.Duration
	// OnRetry, when set, is called before each wait (for metrics and logs).
	OnRetry func(err error, wait time.Duration)
}

func (p *RetryPolicy) setDefaults() {
	if p.InitialInterval <= 0 {
		p.InitialInterval = 200 * time.Millisecond
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = 30 * time.Second
	}
	if p.MaxElapsed == 0 {
		p.MaxElapsed = 5 * time.Minute
	}
}

// maxRetryAfter bounds how long a Retry-After may make one wait last, so a
// gateway's bogus value cannot stall the producer for hours.
const maxRetryAfter = 10 * time.Minute

// ErrRetriesExhausted is wrapped by Do when a retryable error persisted past
// the policy's MaxElapsed.
var ErrRetriesExhausted = errors.New("retries exhausted")

// Do calls op until it succeeds, returns an error the policy does not retry,
// the policy gives up, or ctx ends. Waits follow an exponential backoff with
// jitter (github.com/cenkalti/backoff/v4), lengthened to any Retry-After the
// error carries, and are cut short by ctx.
func (p RetryPolicy) Do(ctx context.Context, op func(context.Context) error) error {
	p.setDefaults()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = p.InitialInterval
	b.MaxInterval = p.MaxInterval
	if p.MaxElapsed < 0 {
		b.MaxElapsedTime = 0
	} else {
		b.MaxElapsedTime = p.MaxElapsed
	}
	b.Reset()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if p.Retryable == nil || !p.Retryable(err) || errors.Is(err, ErrNotOwner) {
			return err
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return fmt.Errorf("%w after %s: %w", ErrRetriesExhausted, b.GetElapsedTime().Round(time.Millisecond), err)
		}
		if p.Delay != nil {
			if d, ok := p.Delay(err); ok && d > wait {
				wait = min(d, maxRetryAfter)
			}
		}
		if p.MaxElapsed >= 0 && b.GetElapsedTime()+wait > p.MaxElapsed {
			return fmt.Errorf("%w after %s (the next wait, %s, would pass the %s ceiling): %w", ErrRetriesExhausted,
				b.GetElapsedTime().Round(time.Millisecond), wait.Round(time.Millisecond), p.MaxElapsed, err)
		}
		if p.OnRetry != nil {
			p.OnRetry(err, wait)
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return err
		case <-timer.C:
		}
	}
}
