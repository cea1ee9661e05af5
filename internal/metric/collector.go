package metric

import "github.com/prometheus/client_golang/prometheus"

// NewCollector returns a prometheus.Collector of fams over the value get
// returns at each collection, as const metrics: for gathering one
// package's families through a registry (tests compare them with
// testutil). The exporter's own /metrics writes families with the
// collector package instead.
func NewCollector[T any](get func() T, fams ...Family[T]) prometheus.Collector {
	c := &familyCollector[T]{get: get, fams: fams}
	for _, f := range fams {
		c.descs = append(c.descs, prometheus.NewDesc(f.Name, f.Help, f.Labels, nil))
	}
	return c
}

type familyCollector[T any] struct {
	get   func() T
	fams  []Family[T]
	descs []*prometheus.Desc
}

func (c *familyCollector[T]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *familyCollector[T]) Collect(ch chan<- prometheus.Metric) {
	v := c.get()
	for i, f := range c.fams {
		f.Series(v, constSink{ch: ch, desc: c.descs[i], typ: f.Type})
	}
}

// constSink sends a family's series as const metrics.
type constSink struct {
	ch   chan<- prometheus.Metric
	desc *prometheus.Desc
	typ  Type
}

func (s constSink) Value(v float64, labels ...string) {
	vt := prometheus.GaugeValue
	if s.typ == Counter {
		vt = prometheus.CounterValue
	}
	s.ch <- prometheus.MustNewConstMetric(s.desc, vt, v, labels...)
}

func (s constSink) Histogram(h *HistogramValue, labels ...string) {
	s.ch <- prometheus.MustNewConstHistogram(s.desc, h.Count, h.Sum, h.Buckets(), labels...)
}

// Buckets is h's cumulative counts by upper bound, as client_golang's
// const histograms take them.
func (h *HistogramValue) Buckets() map[float64]uint64 {
	b := make(map[float64]uint64, len(h.Bounds))
	for i, bound := range h.Bounds {
		b[bound] = h.Counts[i]
	}
	return b
}
