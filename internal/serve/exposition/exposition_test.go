package exposition

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/scp-exporter/scp_exporter/internal/metric"
)

// write runs fn on a writer of the text format (or OpenMetrics) and returns
// what it wrote and its error.
func write(openMetrics bool, fn func(w *Writer)) (string, error) {
	var b strings.Builder
	bw := bufio.NewWriter(&b)
	w := NewWriter(bw, openMetrics)
	fn(w)
	_ = bw.Flush()
	return b.String(), w.Err()
}

// Values and label values come back through expfmt's parser as they went
// in: escapes, awkward floats, labels in any declared order.
func TestWriterOutputParses(t *testing.T) {
	d := NewDesc("scp_test_gauge", "Help with \\ and\nnewline and \"quotes\".", metric.Gauge, "zeta", "alpha")
	values := []float64{0, 1, -1, 0.5, 1e21, 1.7e9 + 0.25, math.Inf(1), math.Inf(-1), 12345678.5, 3e-7}
	labels := []string{"plain", `quo"te`, "back\\slash", "new\nline", "Ωmega", "", "a,b", "x=y", "}", "{"}
	body, err := write(false, func(w *Writer) {
		for i, v := range values {
			w.Value(d, v, labels[i], "a")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing: %v\n%s", err, body)
	}
	mf := mfs["scp_test_gauge"]
	if mf == nil || len(mfs) != 1 || mf.GetHelp() != "Help with \\ and\nnewline and \"quotes\"." || mf.GetType().String() != "GAUGE" {
		t.Fatalf("parsed %v", mfs)
	}
	if len(mf.GetMetric()) != len(values) {
		t.Fatalf("%d series parsed, %d written:\n%s", len(mf.GetMetric()), len(values), body)
	}
	for i, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if got["zeta"] != labels[i] || got["alpha"] != "a" || m.GetGauge().GetValue() != values[i] {
			t.Errorf("series %d: %v = %v, want zeta=%q alpha=a = %v", i, got, m.GetGauge().GetValue(), labels[i], values[i])
		}
	}
	if !strings.Contains(body, `scp_test_gauge{alpha="a",zeta="plain"} 0`+"\n") {
		t.Errorf("labels are not in name order:\n%s", body)
	}
}

// OpenMetrics writes integers with a fraction, and escapes quotes in HELP.
func TestWriterOpenMetrics(t *testing.T) {
	d := NewDesc("scp_test_gauge", `Say "hi".`, metric.Gauge)
	body, _ := write(true, func(w *Writer) {
		w.Value(d, 1)
		w.Value(d, 1e21)
		w.Value(d, math.NaN())
		w.Value(d, 0.5)
	})
	want := "# HELP scp_test_gauge Say \\\"hi\\\".\n# TYPE scp_test_gauge gauge\n" +
		"scp_test_gauge 1.0\nscp_test_gauge 1e+21\nscp_test_gauge NaN\nscp_test_gauge 0.5\n"
	if body != want {
		t.Errorf("got\n%s\nwant\n%s", body, want)
	}
}

// A family that comes back after another has started would make the answer
// invalid: its series are dropped and the misuse reported, as is a series
// with the wrong number of labels.
func TestWriterRefusesMisuse(t *testing.T) {
	a, b := NewDesc("scp_a", "A.", metric.Gauge, "x"), NewDesc("scp_b", "B.", metric.Gauge)
	body, err := write(false, func(w *Writer) {
		w.Value(a, 1, "1")
		w.Value(b, 2)
		w.Value(a, 3, "3")
		w.Value(b, 4, "extra")
	})
	if err == nil || !strings.Contains(err.Error(), "scp_a: series after the family was closed") {
		t.Errorf("error %v", err)
	}
	if strings.Count(body, "# HELP") != 2 || strings.Contains(body, " 3\n") || strings.Contains(body, " 4\n") {
		t.Errorf("misused series written:\n%s", body)
	}
}

func TestNewDescRefusesInvalidNames(t *testing.T) {
	for _, tc := range [][]string{{"bad-name"}, {"scp_ok", "bad-label"}, {"scp_ok", "x", "x"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewDesc(%q) did not panic", tc)
				}
			}()
			NewDesc(tc[0], "Help.", metric.Gauge, tc[1:]...)
		}()
	}
}

// Serve negotiates like promhttp: the text formats and gzip by itself,
// base's families after the collector's; protobuf through promhttp.
func TestServeNegotiates(t *testing.T) {
	d := NewDesc("scp_own", "Own.", metric.Gauge)
	base := prometheus.NewRegistry()
	base.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "aaa_base", Help: "Base."}))
	own := func(s Sink) { s.Value(d, 1) }
	fallback := prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(d.Prometheus(), prometheus.GaugeValue, 1)
	})
	for _, tc := range []struct{ accept, encoding, contentType, contentEncoding string }{
		{"", "", "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", ""},
		{"application/openmetrics-text;version=1.0.0", "gzip", "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores", "gzip"},
		{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; escaping=underscores", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		r.Header.Set("Accept", tc.accept)
		r.Header.Set("Accept-Encoding", tc.encoding)
		rec := httptest.NewRecorder()
		Serve(rec, r, own, prometheus.Collector(collectorOf{fallback, d}), base, promhttp.HandlerOpts{EnableOpenMetrics: true})
		if ct, ce := rec.Header().Get("Content-Type"), rec.Header().Get("Content-Encoding"); ct != tc.contentType || ce != tc.contentEncoding {
			t.Errorf("accept %q encoding %q: Content-Type %q Content-Encoding %q, want %q %q", tc.accept, tc.encoding, ct, ce, tc.contentType, tc.contentEncoding)
		}
		if tc.encoding == "" && strings.HasPrefix(tc.contentType, "text/plain") {
			if body := rec.Body.String(); !strings.Contains(body, "scp_own") || strings.Index(body, "scp_own") > strings.Index(body, "aaa_base") {
				t.Errorf("base's families come before ours:\n%s", body)
			}
		}
	}
}

// collectorOf is a collector of one descriptor.
type collectorOf struct {
	prometheus.CollectorFunc
	d *Desc
}

func (c collectorOf) Describe(ch chan<- *prometheus.Desc) { ch <- c.d.Prometheus() }

// typedSeries is one series of a typedFamily: a value, or a histogram.
type typedSeries struct {
	labels []string
	v      float64
	h      *metric.HistogramValue
}

type typedFamily struct {
	d      *Desc
	help   string
	series []typedSeries
}

// typedFamilies has a family of each type and shape, in name order and
// each family's series in the order a registry sorts them, so that
// promhttp's answer from the same series as const metrics is byte for byte
// the writer's: counters with and without labels and without the _total
// suffix, histograms with labels to escape, without labels, without bounds,
// with counts the text format writes in exponent form.
func typedFamilies() []typedFamily {
	fam := func(name, help string, typ metric.Type, labels []string, series ...typedSeries) typedFamily {
		return typedFamily{NewDesc(name, help, typ, labels...), help, series}
	}
	hist := func(bounds []float64, counts []uint64, count uint64, sum float64, labels ...string) typedSeries {
		return typedSeries{labels: labels, h: &metric.HistogramValue{Bounds: bounds, Counts: counts, Count: count, Sum: sum}}
	}
	value := func(v float64, labels ...string) typedSeries { return typedSeries{labels: labels, v: v} }
	const awkward = "get \"quoted\" \\ Ω\nline"
	bounds := []float64{.01, .025, .1, 1, 2.5, 10}
	return []typedFamily{
		fam("scp_test_duration_seconds", "Duration \"of\" requests \\ by\noperation.", metric.Histogram, []string{"operation", "code"},
			hist(bounds, []uint64{0, 1, 1, 3, 999_999, 1_000_000}, 1_000_001, 12.5, "get", "200"),
			hist(bounds, make([]uint64, len(bounds)), 0, 0, "list", "200"),
			hist(bounds, []uint64{1, 2, 3, 4, 5, 6}, 1<<60, 1e21, awkward, "error")),
		fam("scp_test_empty_histogram", "No bounds.", metric.Histogram, nil, hist(nil, nil, 3, -1.5)),
		fam("scp_test_gauge", "A gauge.", metric.Gauge, []string{"x"}, value(-1, "a"), value(0.5, "b"), value(math.Inf(1), "c")),
		fam("scp_test_other_counter", "A counter without the suffix.", metric.Counter, nil, value(7)),
		fam("scp_test_requests_total", "Requests \"made\" \\ by\noperation.", metric.Counter, []string{"operation", "code"},
			value(1234, "get", "200"), value(0, "list", "200"), value(1e21, "list", "429"), value(0.5, awkward, "error")),
		fam("scp_test_up_total", "Ups.", metric.Counter, nil, value(1)),
	}
}

// emitTyped sends fams' series to s.
func emitTyped(fams []typedFamily) func(Sink) {
	return func(s Sink) {
		for _, f := range fams {
			for _, se := range f.series {
				if se.h != nil {
					s.Histogram(f.d, se.h, se.labels...)
				} else {
					s.Value(f.d, se.v, se.labels...)
				}
			}
		}
	}
}

// sinkCollector collects what emit sends as const metrics.
type sinkCollector struct {
	fams []typedFamily
	emit func(Sink)
}

func (c sinkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.fams {
		ch <- f.d.Prometheus()
	}
}

func (c sinkCollector) Collect(ch chan<- prometheus.Metric) { c.emit(ConstMetrics(ch)) }

// What the writer writes for counters and histograms is what promhttp
// writes for the same series as const metrics, in the text format and in
// OpenMetrics, with and without created samples (const metrics have no
// created time, so there are none).
func TestWriterMatchesPromhttp(t *testing.T) {
	fams := typedFamilies()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sinkCollector{fams, emitTyped(fams)})
	for _, created := range []bool{false, true} {
		h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, EnableOpenMetricsTextCreatedSamples: created})
		for _, accept := range []string{"", "text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0", "application/openmetrics-text;version=0.0.1"} {
			r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			r.Header.Set("Accept", accept)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			om := expfmt.Format(rec.Header().Get("Content-Type")).FormatType() == expfmt.TypeOpenMetrics
			got, err := write(om, func(w *Writer) { emitTyped(fams)(w) })
			if err != nil {
				t.Fatal(err)
			}
			if om {
				got += "# EOF\n"
			}
			if want := rec.Body.String(); got != want {
				t.Errorf("created=%v accept %q: got\n%s\npromhttp\n%s", created, accept, got, want)
			}
		}
	}
}

// The text format reads back through expfmt's parser: types, help, label
// values, counter values, buckets, sums and counts.
func TestWriterTypedOutputParses(t *testing.T) {
	fams := typedFamilies()
	body, err := write(false, func(w *Writer) { emitTyped(fams)(w) })
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing: %v\n%s", err, body)
	}
	if len(mfs) != len(fams) {
		t.Errorf("%d families parsed, %d written:\n%s", len(mfs), len(fams), body)
	}
	for _, f := range fams {
		mf := mfs[f.d.Name()]
		if mf == nil {
			t.Errorf("%s missing", f.d.Name())
			continue
		}
		wantType := map[metric.Type]string{metric.Gauge: "GAUGE", metric.Counter: "COUNTER", metric.Histogram: "HISTOGRAM"}[f.d.Type()]
		if mf.GetType().String() != wantType || mf.GetHelp() != f.help {
			t.Errorf("%s: type %v help %q", f.d.Name(), mf.GetType(), mf.GetHelp())
		}
		if len(mf.GetMetric()) != len(f.series) {
			t.Errorf("%s: %d series parsed, %d written", f.d.Name(), len(mf.GetMetric()), len(f.series))
			continue
		}
		for i, m := range mf.GetMetric() {
			se := f.series[i]
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for j, name := range f.d.Labels() {
				if got[name] != se.labels[j] {
					t.Errorf("%s series %d: %s=%q, want %q", f.d.Name(), i, name, got[name], se.labels[j])
				}
			}
			switch f.d.Type() {
			case metric.Counter:
				if v := m.GetCounter().GetValue(); v != se.v {
					t.Errorf("%s series %d: %v, want %v", f.d.Name(), i, v, se.v)
				}
			case metric.Histogram:
				h := m.GetHistogram()
				if float64(h.GetSampleCount()) != float64(se.h.Count) || h.GetSampleSum() != se.h.Sum {
					t.Errorf("%s series %d: count %d sum %v, want %d %v", f.d.Name(), i, h.GetSampleCount(), h.GetSampleSum(), se.h.Count, se.h.Sum)
				}
				b := h.GetBucket()
				if len(b) != len(se.h.Bounds)+1 || !math.IsInf(b[len(b)-1].GetUpperBound(), 1) || b[len(b)-1].GetCumulativeCount() != h.GetSampleCount() {
					t.Errorf("%s series %d: buckets %v", f.d.Name(), i, b)
					continue
				}
				for k, bound := range se.h.Bounds {
					if b[k].GetUpperBound() != bound || float64(b[k].GetCumulativeCount()) != float64(se.h.Counts[k]) {
						t.Errorf("%s series %d: bucket %v, want le=%v %d", f.d.Name(), i, b[k], bound, se.h.Counts[k])
					}
				}
			}
		}
	}
}

// A counter's OpenMetrics family is named without _total, its samples
// with it; a histogram's bounds and counts are written as OpenMetrics
// wants them (le="1.0", integer counts).
func TestWriterTypedLines(t *testing.T) {
	c := NewDesc("scp_x_total", "X \"x\".", metric.Counter, "op")
	h := NewDesc("scp_y_seconds", "Y.", metric.Histogram, "op")
	n := NewDesc("scp_z_seconds", "Z.", metric.Histogram)
	if c.Type() != metric.Counter || h.Type() != metric.Histogram {
		t.Errorf("types %v %v", c.Type(), h.Type())
	}
	emit := func(w *Writer) {
		w.Value(c, 1, "a")
		w.Value(c, 2.5, `b"`)
		w.Histogram(h, &metric.HistogramValue{Bounds: []float64{0.5, 1}, Counts: []uint64{1, 2}, Count: 3, Sum: 4}, "a")
		w.Histogram(n, &metric.HistogramValue{Bounds: []float64{1e6}, Counts: []uint64{2_000_000}, Count: 2_000_000, Sum: 0.25})
	}
	for _, tc := range []struct {
		om   bool
		want string
	}{
		{false, "# HELP scp_x_total X \"x\".\n# TYPE scp_x_total counter\n" +
			"scp_x_total{op=\"a\"} 1\nscp_x_total{op=\"b\\\"\"} 2.5\n" +
			"# HELP scp_y_seconds Y.\n# TYPE scp_y_seconds histogram\n" +
			"scp_y_seconds_bucket{op=\"a\",le=\"0.5\"} 1\nscp_y_seconds_bucket{op=\"a\",le=\"1\"} 2\nscp_y_seconds_bucket{op=\"a\",le=\"+Inf\"} 3\n" +
			"scp_y_seconds_sum{op=\"a\"} 4\nscp_y_seconds_count{op=\"a\"} 3\n" +
			"# HELP scp_z_seconds Z.\n# TYPE scp_z_seconds histogram\n" +
			"scp_z_seconds_bucket{le=\"1e+06\"} 2e+06\nscp_z_seconds_bucket{le=\"+Inf\"} 2e+06\n" +
			"scp_z_seconds_sum 0.25\nscp_z_seconds_count 2e+06\n"},
		{true, "# HELP scp_x X \\\"x\\\".\n# TYPE scp_x counter\n" +
			"scp_x_total{op=\"a\"} 1.0\nscp_x_total{op=\"b\\\"\"} 2.5\n" +
			"# HELP scp_y_seconds Y.\n# TYPE scp_y_seconds histogram\n" +
			"scp_y_seconds_bucket{op=\"a\",le=\"0.5\"} 1\nscp_y_seconds_bucket{op=\"a\",le=\"1.0\"} 2\nscp_y_seconds_bucket{op=\"a\",le=\"+Inf\"} 3\n" +
			"scp_y_seconds_sum{op=\"a\"} 4.0\nscp_y_seconds_count{op=\"a\"} 3\n" +
			"# HELP scp_z_seconds Z.\n# TYPE scp_z_seconds histogram\n" +
			"scp_z_seconds_bucket{le=\"1e+06\"} 2000000\nscp_z_seconds_bucket{le=\"+Inf\"} 2000000\n" +
			"scp_z_seconds_sum 0.25\nscp_z_seconds_count 2000000\n"},
	} {
		got, err := write(tc.om, emit)
		if err != nil || got != tc.want {
			t.Errorf("om=%v: error %v, got\n%s\nwant\n%s", tc.om, err, got, tc.want)
		}
	}
}

// A series that does not fit its family is dropped and reported; what was
// written before and after it stays valid.
func TestWriterRefusesTypedMisuse(t *testing.T) {
	g := NewDesc("scp_g", "G.", metric.Gauge, "x")
	c := NewDesc("scp_c_total", "C.", metric.Counter)
	h := NewDesc("scp_h_seconds", "H.", metric.Histogram, "x")
	h2 := NewDesc("scp_h_seconds", "H again.", metric.Histogram, "x")
	hv := func(bounds []float64, counts ...uint64) *metric.HistogramValue {
		return &metric.HistogramValue{Bounds: bounds, Counts: counts, Count: 9, Sum: 1}
	}
	good := hv([]float64{1, 2}, 1, 2)
	for _, tc := range []struct {
		name   string
		calls  []func(w *Writer)
		bad    int // the index of the misuse in calls
		reason string
	}{
		{"value for a histogram", []func(w *Writer){
			func(w *Writer) { w.Histogram(h, good, "a") }, func(w *Writer) { w.Value(h, 1, "b") }, func(w *Writer) { w.Histogram(h, good, "c") },
		}, 1, "scp_h_seconds: a value for a histogram"},
		{"histogram for a gauge", []func(w *Writer){
			func(w *Writer) { w.Value(g, 1, "a") }, func(w *Writer) { w.Histogram(g, good, "b") }, func(w *Writer) { w.Value(g, 2, "c") },
		}, 1, "scp_g: a histogram for a gauge"},
		{"histogram for a counter", []func(w *Writer){
			func(w *Writer) { w.Histogram(c, good) }, func(w *Writer) { w.Value(c, 2) },
		}, 0, "scp_c_total: a histogram for a counter"},
		{"fewer counts than bounds", []func(w *Writer){
			func(w *Writer) { w.Histogram(h, good, "a") }, func(w *Writer) { w.Histogram(h, hv([]float64{1, 2, 3}, 1, 2), "b") },
		}, 1, "scp_h_seconds: 2 bucket counts for 3 bounds"},
		{"more counts than bounds", []func(w *Writer){
			func(w *Writer) { w.Histogram(h, hv([]float64{1}, 1, 2), "b") }, func(w *Writer) { w.Histogram(h, good, "a") },
		}, 0, "scp_h_seconds: 2 bucket counts for 1 bounds"},
		{"bounds descending", []func(w *Writer){
			func(w *Writer) { w.Histogram(h, hv([]float64{2, 1}, 1, 2), "a") },
		}, 0, "not ascending"},
		{"bound repeated", []func(w *Writer){
			func(w *Writer) { w.Histogram(h, hv([]float64{1, 1}, 1, 2), "a") },
		}, 0, "not ascending"},
		{"+Inf bound", []func(w *Writer){
			func(w *Writer) { w.Histogram(h, hv([]float64{1, math.Inf(1)}, 1, 2), "a") },
		}, 0, "below +Inf"},
		{"NaN bound", []func(w *Writer){
			func(w *Writer) { w.Histogram(h, hv([]float64{math.NaN()}, 1), "a") },
		}, 0, "not ascending"},
		{"histogram labels", []func(w *Writer){
			func(w *Writer) { w.Histogram(h, good, "a") }, func(w *Writer) { w.Histogram(h, good) },
		}, 1, "scp_h_seconds: 0 label values for labels [x]"},
		{"histogram family split", []func(w *Writer){
			func(w *Writer) { w.Histogram(h, good, "a") }, func(w *Writer) { w.Value(c, 1) }, func(w *Writer) { w.Histogram(h, good, "b") },
		}, 2, "scp_h_seconds: series after the family was closed by another"},
		{"two descriptors of one name", []func(w *Writer){
			func(w *Writer) { w.Histogram(h, good, "a") }, func(w *Writer) { w.Histogram(h2, good, "b") },
		}, 1, "scp_h_seconds: series of another descriptor of the same name"},
	} {
		got, err := write(false, func(w *Writer) {
			for _, call := range tc.calls {
				call(w)
			}
		})
		want, wantErr := write(false, func(w *Writer) {
			for i, call := range tc.calls {
				if i != tc.bad {
					call(w)
				}
			}
		})
		if wantErr != nil {
			t.Fatalf("%s: %v", tc.name, wantErr)
		}
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.reason)
		}
		if got != want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, want)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		if _, err := p.TextToMetricFamilies(strings.NewReader(got)); err != nil {
			t.Errorf("%s: answer does not parse: %v\n%s", tc.name, err, got)
		}
	}
}

// ConstMetrics sends a misused series as an invalid metric: the registry
// reports it and gathers the rest, and nothing panics in Collect.
func TestConstMetricsReportMisuse(t *testing.T) {
	g := NewDesc("scp_g", "G.", metric.Gauge, "x")
	h := NewDesc("scp_h_seconds", "H.", metric.Histogram)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sinkCollector{[]typedFamily{{d: g}, {d: h}}, func(s Sink) {
		s.Value(g, 1, "a")
		s.Value(g, 2)
		s.Histogram(g, &metric.HistogramValue{}, "b")
		s.Value(h, 1)
		s.Histogram(h, &metric.HistogramValue{Bounds: []float64{1}})
		s.Histogram(h, &metric.HistogramValue{Bounds: []float64{1, 2}, Counts: []uint64{1, 2}, Count: 3, Sum: 4})
	}})
	mfs, err := reg.Gather()
	for _, reason := range []string{"scp_g: 0 label values", "scp_g: a histogram for a gauge", "scp_h_seconds: a value for a histogram", "scp_h_seconds: 0 bucket counts for 1 bounds"} {
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("error %v, want %q", err, reason)
		}
	}
	if len(mfs) != 2 || len(mfs[0].GetMetric()) != 1 || mfs[0].GetMetric()[0].GetGauge().GetValue() != 1 ||
		len(mfs[1].GetMetric()) != 1 || mfs[1].GetMetric()[0].GetHistogram().GetSampleCount() != 3 || len(mfs[1].GetMetric()[0].GetHistogram().GetBucket()) != 2 {
		t.Errorf("gathered %v", mfs)
	}
}

func TestNewDescRefusesInvalidTypedFamilies(t *testing.T) {
	for _, tc := range []struct {
		typ    metric.Type
		labels []string
	}{
		{metric.Histogram, []string{"code", "le"}},
		{metric.Type(7), nil},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewDesc(%v, %q) did not panic", tc.typ, tc.labels)
				}
			}()
			NewDesc("scp_ok", "Help.", tc.typ, tc.labels...)
		}()
	}
	NewDesc("scp_ok", "Help.", metric.Gauge, "le") // only histograms reserve le
}

// Serve's whole answer, with counters and histograms beside gauges and
// base's families after them (they sort after, so promhttp's order is the
// same), is promhttp's byte for byte, compressed or not, with created
// samples for base's counters when opts ask for them as promhttp gives
// them. OpenMetrics 2.0.0, when offered, is promhttp's to write.
func TestServeMatchesPromhttp(t *testing.T) {
	fams := typedFamilies()
	emit := emitTyped(fams)
	fallback := sinkCollector{fams, emit}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(fallback)
	base := prometheus.NewRegistry()
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zzz_base_total", Help: "Base."}, []string{"code"})
	counter.WithLabelValues("200").Add(3)
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "zzz_base_seconds", Help: "Base.", Buckets: []float64{0.1, 1}})
	hist.Observe(0.5)
	base.MustRegister(counter, hist)
	for _, opts := range []promhttp.HandlerOpts{
		{EnableOpenMetrics: true},
		{EnableOpenMetrics: true, EnableOpenMetricsTextCreatedSamples: true},
		{AcceptedFormats: []expfmt.Format{expfmt.FmtOpenMetrics_2_0_0, expfmt.FmtOpenMetrics_1_0_0, expfmt.FmtText}},
	} {
		for _, accept := range []string{"", "text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0", "application/openmetrics-text;version=2.0.0"} {
			for _, enc := range []string{"", "gzip"} {
				req := func() *http.Request {
					r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
					r.Header.Set("Accept", accept)
					r.Header.Set("Accept-Encoding", enc)
					return r
				}
				var errLog logLines
				opts.ErrorLog = &errLog
				got, want := httptest.NewRecorder(), httptest.NewRecorder()
				Serve(got, req(), emit, fallback, base, opts)
				promhttp.HandlerFor(prometheus.Gatherers{reg, base}, opts).ServeHTTP(want, req())
				name := fmt.Sprintf("created=%v formats=%d accept=%q encoding=%q", opts.EnableOpenMetricsTextCreatedSamples, len(opts.AcceptedFormats), accept, enc)
				for _, h := range []string{"Content-Type", "Content-Encoding"} {
					if g, w := got.Header().Get(h), want.Header().Get(h); g != w {
						t.Errorf("%s: %s %q, promhttp %q", name, h, g, w)
					}
				}
				if g, w := gunzip(t, got), gunzip(t, want); g != w {
					t.Errorf("%s: got\n%s\npromhttp\n%s", name, g, w)
				}
				if len(errLog.lines) != 0 {
					t.Errorf("%s: logged %q", name, errLog.lines)
				}
			}
		}
	}
}

// gunzip is a recorded answer's body, decompressed if it was compressed.
func gunzip(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Header().Get("Content-Encoding") != "gzip" {
		return rec.Body.String()
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type logLines struct{ lines []string }

func (l *logLines) Println(v ...any) { l.lines = append(l.lines, fmt.Sprint(v...)) }
