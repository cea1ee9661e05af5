// Package testclock is the one settable clock tests inject where code takes
// a Now func.
package testclock

import (
	"sync/atomic"
	"time"
)

// Clock is a time that only moves when a test moves it. It is safe for
// concurrent use.
type Clock struct{ ns atomic.Int64 }

// New returns a clock at t.
func New(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now is the clock's time, in UTC.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
