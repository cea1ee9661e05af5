// Package testwait is the one way tests wait for something to become true,
// or check that it stays true: no test hand-writes a polling loop.
package testwait

import (
	"testing"
	"time"
)

// Timeout is how long For waits before failing the test.
const Timeout = 10 * time.Second

// Polls start this often and slow down, doubling, to maxInterval: a quick
// condition is seen at once, and a long wait on another process (an
// exporter's /metrics, Prometheus' API) asks it a few times a second only.
const (
	firstInterval = 5 * time.Millisecond
	maxInterval   = 100 * time.Millisecond
)

// For polls cond until it holds, and fails the test naming what it waited
// for if it does not within Timeout.
func For(t testing.TB, cond func() bool, what string) {
	t.Helper()
	ForWithin(t, Timeout, cond, what)
}

// ForWithin is For with its own timeout, for what takes longer than Timeout
// by design (a process starting, Prometheus evaluating rules).
func ForWithin(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("waited %v for %s", timeout, what)
	}
}

// Until polls cond until it holds or timeout has passed, and tells whether
// it held. It is for a caller that reports a wait that ran out itself: with
// what cond saw last, or as an error that lets the test go on.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for wait := firstInterval; !cond(); wait = min(2*wait, maxInterval) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
	}
	return true
}

// Holds polls cond for d, as often as For does, and fails the test naming
// what should have held as soon as it does not. cond is checked first at
// once and last once d has passed.
func Holds(t testing.TB, d time.Duration, cond func() bool, what string) {
	t.Helper()
	start := time.Now()
	end := start.Add(d)
	for wait := firstInterval; ; wait = min(2*wait, maxInterval) {
		if !cond() {
			t.Fatalf("%s: no longer true after %v of %v", what, time.Since(start).Round(time.Millisecond), d)
		}
		left := time.Until(end)
		if left < 0 {
			return
		}
		time.Sleep(min(wait, left))
	}
}
