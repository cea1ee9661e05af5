package scp

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// AIMD parameters of a Budget: the rate drops to decreaseFactor of itself
// at most once per decreaseWindow while the API throttles, and climbs back
// by increasePerSecond·max for every second of calls that are not
// throttled, as the AWS SDK's adaptive retry mode does.
const (
	decreaseFactor    = 0.7
	decreaseWindow    = time.Second
	increasePerSecond = 0.01
)

// Budget bounds every API call of one account, whatever makes it (member
// fetches, listings, look-ups): at most concurrency attempts in flight and at
// most the effective rate per second. The effective rate starts at the
// configured maximum, is lowered multiplicatively when the API throttles
// (429, or any answer with Retry-After) and recovers additively with each
// call that goes through; it never exceeds the maximum. Safe for concurrent
// use.
type Budget struct {
	max     float64
	minRate float64
	step    float64 // additive increase per second of calls
	slots   chan struct{}
	limiter *rate.Limiter
	now     func() time.Time

	mu           sync.Mutex
	rate         float64
	lastDecrease time.Time
	metrics      *Metrics
}

// NewBudget returns a budget of requestsPerSecond (> 0) and concurrency
// (>= 1) calls in flight. now is the clock (time.Now when nil).
func NewBudget(requestsPerSecond float64, concurrency int, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	concurrency = max(1, concurrency)
	b := &Budget{
		max:     requestsPerSecond,
		minRate: min(requestsPerSecond, 1),
		step:    requestsPerSecond * increasePerSecond,
		slots:   make(chan struct{}, concurrency),
		limiter: rate.NewLimiter(rate.Limit(requestsPerSecond), concurrency),
		now:     now,
		rate:    requestsPerSecond,
	}
	return b
}

// Acquire waits for a slot and a token. Call release when the attempt is
// over. It fails only when ctx ends first.
func (b *Budget) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a free API call slot: %w", ctx.Err())
	}
	if err := b.limiter.Wait(ctx); err != nil {
		<-b.slots
		return nil, fmt.Errorf("waiting for the client rate limit: %w: %w", err, context.DeadlineExceeded)
	}
	return func() { <-b.slots }, nil
}

// Throttled lowers the effective rate: the API answered 429 or asked to
// retry later. Throttled answers to calls sent before the last decrease took
// effect do not lower it again.
func (b *Budget) Throttled() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if !b.lastDecrease.IsZero() && now.Sub(b.lastDecrease) < decreaseWindow {
		return
	}
	b.lastDecrease = now
	b.set(max(b.minRate, b.rate*decreaseFactor))
	b.metrics.rateDecreased()
}

// Succeeded lets the effective rate recover after a call that was not
// throttled: step per second of calls at the current rate.
func (b *Budget) Succeeded() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rate < b.max {
		b.set(min(b.max, b.rate+b.step/b.rate))
	}
}

// set changes the effective rate. b.mu must be held.
func (b *Budget) set(r float64) {
	b.rate = r
	b.limiter.SetLimit(rate.Limit(r))
	b.metrics.setRate(r)
}

// Rate is the effective rate now, in requests per second.
func (b *Budget) Rate() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rate
}

// Max is the configured rate, the most the effective rate may reach.
func (b *Budget) Max() float64 { return b.max }

// Report makes m show the budget's effective rate and its decreases, from
// now on; nil stops reporting (a budget replaced after a reload).
func (b *Budget) Report(m *Metrics) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.metrics = m
	m.setRate(b.rate)
}
