// Package testwait is the one way tests wait for something to become true.
package testwait

import (
	"testing"
	"time"
)

// Timeout is how long For waits before failing the test.
const Timeout = 10 * time.Second

// For polls cond every few milliseconds until it holds, and fails the test
// naming what it waited for if it does not within Timeout.
func For(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", Timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
