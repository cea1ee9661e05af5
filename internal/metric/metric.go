// Package metric is how every metric family of the exporter is defined:
// once, beside the code that computes its value, with its name, help, type,
// labels and the function that produces its series together (as
// kube-state-metrics' family generators do), so that grepping a metric's
// name lands on its whole story. The collector walks the families in order
// and adds the account label, in the accounts form, in one place.
package metric

import "time"

// Type is a family's metric type.
type Type int

// The types the exporter exposes.
const (
	Gauge Type = iota
	Counter
	Histogram
)

// String is the type as the text format's TYPE line names it.
func (t Type) String() string {
	switch t {
	case Counter:
		return "counter"
	case Histogram:
		return "histogram"
	default:
		return "gauge"
	}
}

// HistogramValue is one histogram series: the count of observations at or
// below each bound (cumulative, in the order of the bounds), and the count
// and sum of all observations.
type HistogramValue struct {
	Bounds []float64 // upper bounds, ascending, without +Inf
	Counts []uint64  // cumulative, one per bound
	Count  uint64
	Sum    float64
}

// Sink receives a family's series, each with its label values in the
// order of the family's Labels: Value for gauges and counters, Histogram
// for histograms.
type Sink interface {
	Value(v float64, labels ...string)
	Histogram(h *HistogramValue, labels ...string)
}

// Family is one metric family over values of type T (an account's
// snapshot, a list file's status, ...).
type Family[T any] struct {
	Name   string
	Help   string
	Type   Type
	Labels []string
	// Series sends the family's series for v to s; none for a family
	// absent from v.
	Series func(v T, s Sink)
}

// Over adapts families over U to families over T, reading each T's U with
// get: a package defines its families over its own state, and the
// collector reads them from an account's snapshot.
func Over[T, U any](get func(T) U, fams ...Family[U]) []Family[T] {
	out := make([]Family[T], len(fams))
	for i, f := range fams {
		series := f.Series
		out[i] = Family[T]{Name: f.Name, Help: f.Help, Type: f.Type, Labels: f.Labels,
			Series: func(v T, s Sink) { series(get(v), s) }}
	}
	return out
}

// OverOptional adapts families over *U to families over T, for the value
// get returns for a T when it is not nil: the account's audit trail, its
// storage, when it has them.
func OverOptional[T, U any](get func(T) *U, fams ...Family[*U]) []Family[T] {
	return OverEach(func(v T) []*U {
		if u := get(v); u != nil {
			return []*U{u}
		}
		return nil
	}, fams...)
}

// OverEach adapts families over *U to families over T, for each of the
// values get returns for a T (none when it returns none): each list file,
// each API service.
func OverEach[T, U any](get func(T) []*U, fams ...Family[*U]) []Family[T] {
	out := make([]Family[T], len(fams))
	for i, f := range fams {
		series := f.Series
		out[i] = Family[T]{Name: f.Name, Help: f.Help, Type: f.Type, Labels: f.Labels,
			Series: func(v T, s Sink) {
				for _, u := range get(v) {
					series(u, s)
				}
			}}
	}
	return out
}

// Bool is 1 for true and 0 for false.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// UnixSeconds is t in Unix seconds, with its fraction.
func UnixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// Timestamp is t in Unix seconds, or 0 for the zero time ("never").
func Timestamp(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return UnixSeconds(t)
}
