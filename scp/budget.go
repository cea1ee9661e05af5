package scp

import (
	"context"
	"errors"
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

// Bounds of what the API's throttling and prioritized work may take.
const (
	// MaxPause caps how long a Retry-After stops the calls it applies to:
	// a longer one would blind the exporter for as long as the server
	// asks (3600 has been seen); after MaxPause the calls resume, and a
	// server still throttling answers another Retry-After.
	MaxPause = 5 * time.Minute
	// PriorityShare is the most of the account's effective rate that
	// prioritized work (images an audit event names) may take: the sweep
	// over every image always keeps the rest. PriorityBurst calls may go
	// at once after a quiet spell.
	PriorityShare = 0.25
	PriorityBurst = 20
)

// ErrPaused is wrapped when a call is not made because the API asked,
// with Retry-After, to wait past the call's deadline.
var ErrPaused = errors.New("paused by the API's Retry-After")

// Budget bounds every API call of one account, whatever makes it (member
// fetches, listings, look-ups): at most concurrency attempts in flight and at
// most the effective rate per second. The effective rate starts at the
// configured maximum, is lowered multiplicatively when the API throttles
// (429, or any answer with Retry-After) — from the rate actually sent, when
// that is lower — and recovers additively with each call that goes through;
// it never exceeds the maximum. Calls are spaced evenly (a burst of one):
// the slots already bound how many are in flight, and a burst after an idle
// moment is exactly what trips an API's throttling. A Retry-After stops
// every call until it has passed (Pause), at most MaxPause. Prioritized
// work may take at most PriorityShare of the rate (PriorityDelay,
// TakePriority). Safe for concurrent use.
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
	paused       pause
	priority     *rate.Limiter // PriorityShare of rate
	// The rate actually sent, measured over whole seconds.
	windowStart       time.Time
	windowCalls, sent float64
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
		limiter: rate.NewLimiter(rate.Limit(requestsPerSecond), 1),
		now:     now,
		rate:    requestsPerSecond,
	}
	b.priority = rate.NewLimiter(rate.Limit(requestsPerSecond*PriorityShare), PriorityBurst)
	return b
}

// Acquire waits for a pause to pass, a slot and a token. Call release when
// the attempt is over. It fails when ctx ends first, and at once, wrapping
// ErrPaused, when ctx ends before the pause does.
func (b *Budget) Acquire(ctx context.Context) (release func(), err error) {
	if err := b.waitPause(ctx); err != nil {
		return nil, err
	}
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a free API call slot: %w", ctx.Err())
	}
	if err := b.limiter.Wait(ctx); err != nil {
		<-b.slots
		return nil, fmt.Errorf("waiting for the client rate limit: %w: %w", err, context.DeadlineExceeded)
	}
	b.mu.Lock()
	b.count(b.now())
	b.mu.Unlock()
	return func() { <-b.slots }, nil
}

// waitPause waits until no pause holds the calls back.
func (b *Budget) waitPause(ctx context.Context) error {
	for {
		now := b.now()
		left := b.paused.left(now)
		if left <= 0 {
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && dl.Before(now.Add(left)) {
			return b.paused.check(now, "the API")
		}
		t := time.NewTimer(left)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for the API's Retry-After: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Pause stops every call for d (a Retry-After), at most MaxPause; a pause
// under way is only ever extended.
func (b *Budget) Pause(d time.Duration) {
	if b.paused.extend(d, b.now()) {
		b.mu.Lock()
		b.metrics.paused()
		b.mu.Unlock()
	}
}

// PauseLeft is how long the calls are still paused; 0 when they are not.
func (b *Budget) PauseLeft() time.Duration { return b.paused.left(b.now()) }

// pause is a Retry-After stop of the calls it applies to (an account's
// Virtual Server calls, its audit calls), at most MaxPause. The zero value
// is not paused. Safe for concurrent use.
type pause struct {
	mu    sync.Mutex
	until time.Time
}

// extend stops the calls for d from now, unless a longer stop holds; it
// reports whether the stop was set or extended.
func (p *pause) extend(d time.Duration, now time.Time) bool {
	if d <= 0 {
		return false
	}
	return p.extendTo(now.Add(min(d, MaxPause)))
}

// extendTo stops the calls until until, unless a longer stop holds.
func (p *pause) extendTo(until time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !until.After(p.until) {
		return false
	}
	p.until = until
	return true
}

// end is when the stop ends; zero when none was ever set.
func (p *pause) end() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.until
}

// left is how long the stop lasts from now; 0 when none holds.
func (p *pause) left(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(0, p.until.Sub(now))
}

// check fails, wrapping ErrPaused and naming who asked, while the calls
// are stopped.
func (p *pause) check(now time.Time, who string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Before(p.until) {
		return fmt.Errorf("%w: %s asked to wait until %s", ErrPaused, who, p.until.UTC().Format(time.RFC3339))
	}
	return nil
}

// PriorityDelay is how long from now until n prioritized calls fit in
// PriorityShare of the rate; 0 when they fit now. now is the caller's
// clock, the same for PriorityDelay and TakePriority.
func (b *Budget) PriorityDelay(now time.Time, n int) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	tokens := b.priority.TokensAt(now)
	if tokens >= float64(n) {
		return 0
	}
	return time.Duration((float64(n)-tokens)/float64(b.priority.Limit())*float64(time.Second)) + time.Millisecond
}

// TakePriority counts n prioritized calls made at now against
// PriorityShare of the rate.
func (b *Budget) TakePriority(now time.Time, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.priority.ReserveN(now, n)
}

// count measures the rate sent: calls per whole second, the last full
// second's count kept in sent. b.mu must be held.
func (b *Budget) count(now time.Time) {
	switch elapsed := now.Sub(b.windowStart); {
	case elapsed >= 2*time.Second: // a quiet second or more in between
		b.windowStart, b.windowCalls, b.sent = now, 0, 0
	case elapsed >= time.Second:
		b.windowStart, b.sent, b.windowCalls = b.windowStart.Add(time.Second), b.windowCalls, 0
	}
	b.windowCalls++
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
	from := b.rate
	if b.sent > 0 && b.sent < from {
		// The rate allowed was not reached (too few slots for the
		// latency): cutting it would change nothing sent.
		from = b.sent
	}
	b.set(max(b.minRate, from*decreaseFactor))
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
	b.priority.SetLimitAt(b.now(), rate.Limit(r*PriorityShare))
}

// Continue starts b at the rate old had reached, when that is lower than
// b's maximum, and with old's pause: a reload that changes an account's
// client must not forget that the API throttles it.
func (b *Budget) Continue(old *Budget) {
	b.ContinueAt(old.Rate())
	b.paused.extendTo(old.paused.end())
}

// ContinueAt starts b at rate r when that is lower than b's own (a rate
// saved before a restart): the API that throttled the exporter then may
// still.
func (b *Budget) ContinueAt(r float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r > 0 && r < b.rate {
		b.set(max(b.minRate, r))
	}
}

// Rate is the effective rate now, in requests per second.
func (b *Budget) Rate() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rate
}

// Max is the configured rate, the most the effective rate may reach.
func (b *Budget) Max() float64 { return b.max }

// Report makes m count the budget's decreases from now on; nil stops
// counting (a budget replaced after a reload).
func (b *Budget) Report(m *Metrics) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.metrics = m
}
