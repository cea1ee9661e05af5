package exposition

import (
	"bufio"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
	d := NewDesc("scp_test_gauge", "Help with \\ and\nnewline and \"quotes\".", "zeta", "alpha")
	values := []float64{0, 1, -1, 0.5, 1e21, 1.7e9 + 0.25, math.Inf(1), math.Inf(-1), 12345678.5, 3e-7}
	labels := []string{"plain", `quo"te`, "back\\slash", "new\nline", "Ωmega", "", "a,b", "x=y", "}", "{"}
	body, err := write(false, func(w *Writer) {
		for i, v := range values {
			w.Gauge(d, v, labels[i], "a")
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
	d := NewDesc("scp_test_gauge", `Say "hi".`)
	body, _ := write(true, func(w *Writer) {
		w.Gauge(d, 1)
		w.Gauge(d, 1e21)
		w.Gauge(d, math.NaN())
		w.Gauge(d, 0.5)
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
	a, b := NewDesc("scp_a", "A.", "x"), NewDesc("scp_b", "B.")
	body, err := write(false, func(w *Writer) {
		w.Gauge(a, 1, "1")
		w.Gauge(b, 2)
		w.Gauge(a, 3, "3")
		w.Gauge(b, 4, "extra")
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
			NewDesc(tc[0], "Help.", tc[1:]...)
		}()
	}
}

// Serve negotiates like promhttp: the text formats and gzip by itself,
// base's families after the collector's; protobuf through promhttp.
func TestServeNegotiates(t *testing.T) {
	d := NewDesc("scp_own", "Own.")
	base := prometheus.NewRegistry()
	base.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "aaa_base", Help: "Base."}))
	own := func(g Gauge) { g(d, 1) }
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
