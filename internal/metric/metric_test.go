package metric_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scp-exporter/scp_exporter/internal/metric"
)

type state struct {
	hits    float64
	latency metric.HistogramValue
	files   []*file
}

type file struct{ path string }

var hits = metric.Family[*float64]{
	Name: "test_hits_total", Help: "Hits.", Type: metric.Counter,
	Series: func(v *float64, s metric.Sink) { s.Value(*v) },
}

var latency = metric.Family[*metric.HistogramValue]{
	Name: "test_latency_seconds", Help: "Latency.", Type: metric.Histogram, Labels: []string{"op"},
	Series: func(h *metric.HistogramValue, s metric.Sink) { s.Histogram(h, "read") },
}

var files = metric.Family[*file]{
	Name: "test_file_info", Help: "Files.", Labels: []string{"path"},
	Series: func(f *file, s metric.Sink) { s.Value(1, f.path) },
}

// Families over a part of a state read that part; OverEach writes one
// family's series for each value, none for none; NewCollector gathers them
// with their types.
func TestFamiliesOverAState(t *testing.T) {
	st := &state{
		hits:    3,
		latency: metric.HistogramValue{Bounds: []float64{0.1, 1}, Counts: []uint64{1, 2}, Count: 3, Sum: 2.5},
		files:   []*file{{"/a"}, {"/b"}},
	}
	fams := append(append(
		metric.Over(func(s *state) *float64 { return &s.hits }, hits),
		metric.Over(func(s *state) *metric.HistogramValue { return &s.latency }, latency)...),
		metric.OverEach(func(s *state) []*file { return s.files }, files)...)
	c := metric.NewCollector(func() *state { return st }, fams...)
	want := `# HELP test_file_info Files.
# TYPE test_file_info gauge
test_file_info{path="/a"} 1
test_file_info{path="/b"} 1
# HELP test_hits_total Hits.
# TYPE test_hits_total counter
test_hits_total 3
# HELP test_latency_seconds Latency.
# TYPE test_latency_seconds histogram
test_latency_seconds_bucket{op="read",le="0.1"} 1
test_latency_seconds_bucket{op="read",le="1"} 2
test_latency_seconds_bucket{op="read",le="+Inf"} 3
test_latency_seconds_sum{op="read"} 2.5
test_latency_seconds_count{op="read"} 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	st.files = nil
	if n := testutil.CollectAndCount(c, "test_file_info"); n != 0 {
		t.Errorf("%d file series with no files, want none", n)
	}
}

func TestTimestamps(t *testing.T) {
	if got := metric.Timestamp(time.Time{}); got != 0 {
		t.Errorf("the zero time is %v, want 0 (never)", got)
	}
	at := time.Date(2026, 12, 7, 0, 0, 0, 500_000_000, time.UTC)
	if got, want := metric.Timestamp(at), float64(at.Unix())+0.5; got != want {
		t.Errorf("Timestamp %v, want %v", got, want)
	}
	if got := metric.UnixSeconds(time.Unix(0, 0)); got != 0 {
		t.Errorf("UnixSeconds of the epoch %v", got)
	}
	if metric.Bool(true) != 1 || metric.Bool(false) != 0 {
		t.Error("Bool")
	}
}
