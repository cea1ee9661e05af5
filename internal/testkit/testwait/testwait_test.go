package testwait

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the testing package's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatal runs f with a fatalRecorder on a goroutine of its own, and returns
// what f failed with, "" if it returned.
func fatal(f func(testing.TB)) string {
	r := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.msg
}

// counter is a condition that holds from its nth check on.
func counter(n int) (cond func() bool, checks *int) {
	checks = new(int)
	return func() bool { *checks++; return *checks >= n }, checks
}

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	cond, checks := counter(3)
	if msg := fatal(func(tb testing.TB) { For(tb, cond, "the third check") }); msg != "" {
		t.Fatalf("For failed: %s", msg)
	}
	if *checks != 3 {
		t.Errorf("%d checks, want 3: For stops at the first that holds", *checks)
	}
}

func TestForWithinFailsNamingWhatItWaitedFor(t *testing.T) {
	start := time.Now()
	msg := fatal(func(tb testing.TB) { ForWithin(tb, 50*time.Millisecond, func() bool { return false }, "nothing") })
	if msg != "waited 50ms for nothing" {
		t.Errorf("message %q", msg)
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > 5*time.Second {
		t.Errorf("gave up after %v, want 50ms", took)
	}
}

func TestUntilTellsWhetherTheConditionHeld(t *testing.T) {
	cond, _ := counter(2)
	if !Until(time.Second, cond) {
		t.Error("Until: false for a condition that holds on its second check")
	}
	start := time.Now()
	if Until(50*time.Millisecond, func() bool { return false }) {
		t.Error("Until: true for a condition that never holds")
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > 5*time.Second {
		t.Errorf("Until gave up after %v, want 50ms", took)
	}
}

func TestHoldsChecksUntilTheEnd(t *testing.T) {
	start := time.Now()
	var checks int
	var last time.Time
	msg := fatal(func(tb testing.TB) {
		Holds(tb, 200*time.Millisecond, func() bool { checks++; last = time.Now(); return true }, "true")
	})
	if msg != "" {
		t.Fatalf("Holds failed: %s", msg)
	}
	if checks < 3 || last.Sub(start) < 200*time.Millisecond {
		t.Errorf("%d checks, the last %v after the start: want several, the last once 200ms had passed", checks, last.Sub(start))
	}
}

func TestHoldsFailsAtTheFirstFalse(t *testing.T) {
	checks := 0
	start := time.Now()
	msg := fatal(func(tb testing.TB) {
		Holds(tb, time.Minute, func() bool { checks++; return checks < 3 }, "the first two checks")
	})
	if !strings.HasPrefix(msg, "the first two checks: no longer true after ") || !strings.HasSuffix(msg, " of 1m0s") {
		t.Errorf("message %q", msg)
	}
	if checks != 3 || time.Since(start) > 5*time.Second {
		t.Errorf("%d checks in %v, want 3: Holds stops at the first false", checks, time.Since(start))
	}
}
