// Package exposition writes a collector's gauges to /metrics without turning
// each into a client_golang metric: at 10,000 images a scrape has about
// 100,000 series, and building, gathering and sorting that many protobuf
// messages costs more memory and CPU than the API calls behind them. The
// collector decides which series exist and hands them over family by
// family; the writer streams them in the text or OpenMetrics format, in the
// order they come, then whatever the base gatherer has through expfmt. Other
// formats (protobuf) are served by promhttp.
package exposition

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Desc is a gauge family: its name, help and variable label names.
type Desc struct {
	prom   *prometheus.Desc
	name   string
	help   [2]string // escaped for the text format and for OpenMetrics
	labels []string
	// prefixes[n] goes before the value of the n-th label in name order:
	// `{name="` first, then `",name="`; order[n] is that label's index.
	prefixes []string
	order    []int
}

// NewDesc describes a gauge family. Its name and label names must be valid
// legacy Prometheus names; it panics otherwise, as prometheus.MustRegister
// would.
func NewDesc(name, help string, labels ...string) *Desc {
	if !model.LegacyValidation.IsValidMetricName(name) {
		panic(fmt.Sprintf("exposition: invalid metric name %q", name))
	}
	d := &Desc{
		prom:   prometheus.NewDesc(name, help, labels, nil),
		name:   name,
		help:   [2]string{escapeHelp.Replace(help), escapeValue.Replace(help)},
		labels: slices.Clone(labels),
		order:  make([]int, len(labels)),
	}
	for i, l := range labels {
		if !model.LegacyValidation.IsValidLabelName(l) || slices.Index(labels, l) != i {
			panic(fmt.Sprintf("exposition: %s: invalid or repeated label name %q", name, l))
		}
		d.order[i] = i
	}
	slices.SortFunc(d.order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	for n, i := range d.order {
		sep := `",`
		if n == 0 {
			sep = "{"
		}
		d.prefixes = append(d.prefixes, sep+labels[i]+`="`)
	}
	return d
}

// Name is the family's name.
func (d *Desc) Name() string { return d.name }

// Labels are the family's variable label names, in the order of a series'
// label values.
func (d *Desc) Labels() []string { return slices.Clone(d.labels) }

// Prometheus is the family's client_golang descriptor, for Describe and
// const metrics.
func (d *Desc) Prometheus() *prometheus.Desc { return d.prom }

var (
	escapeHelp  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	escapeValue = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// Gauge receives one series: its family, value and label values in the
// order of the family's label names. Label values must be valid UTF-8.
type Gauge = func(d *Desc, v float64, labels ...string)

// Writer writes gauge families in the text or OpenMetrics format. Each
// family's series must come together: a family that comes back after
// another one started would make the answer invalid, so its series are
// dropped and reported by Err. A write error sticks in the bufio.Writer
// and is reported by Flush.
type Writer struct {
	w    *bufio.Writer
	om   bool
	cur  *Desc
	done map[*Desc]bool
	err  error
	num  []byte
}

// NewWriter returns a writer of the text format, or of OpenMetrics.
func NewWriter(w *bufio.Writer, openMetrics bool) *Writer {
	return &Writer{w: w, om: openMetrics, done: map[*Desc]bool{}}
}

// Err is the first misuse: a family split in two, or a series with the
// wrong number of labels.
func (t *Writer) Err() error { return t.err }

// Gauge writes one series, with its family's HELP and TYPE lines first
// when it starts a family.
func (t *Writer) Gauge(d *Desc, v float64, labels ...string) {
	if len(labels) != len(d.labels) {
		t.fail(fmt.Errorf("%s: %d label values for labels %v", d.name, len(labels), d.labels))
		return
	}
	if d != t.cur {
		if t.done[d] {
			t.fail(fmt.Errorf("%s: series after the family was closed by another", d.name))
			return
		}
		if t.cur != nil {
			t.done[t.cur] = true
		}
		t.cur = d
		t.header(d)
	}
	t.str(d.name)
	for n, i := range d.order {
		t.str(d.prefixes[n])
		t.labelValue(labels[i])
	}
	if len(d.order) > 0 {
		t.str(`"} `)
	} else {
		t.ch(' ')
	}
	t.float(v)
	t.ch('\n')
}

func (t *Writer) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

func (t *Writer) header(d *Desc) {
	t.str("# HELP ")
	t.str(d.name)
	t.ch(' ')
	t.str(d.help[boolIndex(t.om)])
	t.str("\n# TYPE ")
	t.str(d.name)
	t.str(" gauge\n")
}

func (t *Writer) str(s string) { _, _ = t.w.WriteString(s) }
func (t *Writer) ch(c byte)    { _ = t.w.WriteByte(c) }

func (t *Writer) labelValue(v string) {
	if strings.ContainsAny(v, "\\\"\n") {
		_, _ = escapeValue.WriteString(t.w, v)
		return
	}
	t.str(v)
}

// float formats v as expfmt does: integers in OpenMetrics end in ".0".
func (t *Writer) float(v float64) {
	t.num = strconv.AppendFloat(t.num[:0], v, 'g', -1, 64)
	if t.om && !strings.ContainsAny(string(t.num), "e.IN") { // not 1e+06, 0.5, +Inf, NaN
		t.num = append(t.num, '.', '0')
	}
	_, _ = t.w.Write(t.num)
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// negotiate picks the answer's format from the request's Accept header
// among the formats opts offer, as promhttp does, and reports whether the
// writer produces it (the text formats) or promhttp must (protobuf).
func negotiate(r *http.Request, opts promhttp.HandlerOpts) (expfmt.Format, bool) {
	offered := opts.AcceptedFormats
	if len(offered) == 0 {
		offered = expfmt.DefaultAcceptedFormats()
		if opts.EnableOpenMetrics {
			offered = expfmt.DefaultOpenMetricsAcceptedFormats()
		}
	}
	f := expfmt.NegotiateAccept(r.Header, offered...)
	switch f.FormatType() {
	case expfmt.TypeTextPlain, expfmt.TypeOpenMetrics:
		return f, true
	}
	return f, false
}

// gzipOffered reports whether opts offer gzip, as promhttp's do by default.
func gzipOffered(opts promhttp.HandlerOpts) bool {
	return !opts.DisableCompression && (len(opts.OfferedCompressions) == 0 || slices.Contains(opts.OfferedCompressions, promhttp.Gzip))
}

// acceptsGzip reports whether the request accepts gzip (a q of 0 refuses
// it); the name is matched as written, as promhttp matches it.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(name) != "gzip" {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		weight, err := strconv.ParseFloat(q, 64)
		return !ok || (err == nil && weight > 0)
	}
	return false
}

var (
	bufWriters  = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
	gzipWriters = sync.Pool{New: func() any {
		// BestSpeed: a large answer compresses to a few per cent either
		// way, at a third of the default level's CPU.
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return w
	}}
)

// Serve answers a scrape. In the text formats, own writes the collector's
// series into a Writer, then base's families follow through expfmt; in any
// other format promhttp serves fallback (the same series as client_golang
// metrics) beside base. Errors are logged through opts.ErrorLog and the
// answer goes on, as with promhttp.ContinueOnError.
func Serve(w http.ResponseWriter, r *http.Request, own func(Gauge), fallback prometheus.Collector, base prometheus.Gatherer, opts promhttp.HandlerOpts) {
	format, fast := negotiate(r, opts)
	if !fast {
		reg := prometheus.NewRegistry()
		reg.MustRegister(fallback)
		promhttp.HandlerFor(prometheus.Gatherers{reg, base}, opts).ServeHTTP(w, r)
		return
	}
	logf := func(msg string, err error) {
		if err != nil && opts.ErrorLog != nil {
			opts.ErrorLog.Println(msg, err)
		}
	}
	h := w.Header()
	h.Set("Content-Type", string(format))
	h.Add("Vary", "Accept")
	offered := gzipOffered(opts)
	if offered {
		h.Add("Vary", "Accept-Encoding")
	}
	bw := bufWriters.Get().(*bufio.Writer)
	defer bufWriters.Put(bw)
	if offered && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(w)
		defer func() { logf("error compressing metrics:", gz.Close()); gz.Reset(nil); gzipWriters.Put(gz) }()
		bw.Reset(gz)
	} else {
		bw.Reset(w)
	}
	defer bw.Reset(nil)

	tw := NewWriter(bw, format.FormatType() == expfmt.TypeOpenMetrics)
	own(tw.Gauge)
	logf("error writing metrics:", tw.Err())
	mfs, err := base.Gather()
	logf("error gathering metrics:", err)
	enc := expfmt.NewEncoder(bw, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			logf("error encoding metric family:", err)
			break
		}
	}
	if closer, ok := enc.(expfmt.Closer); ok {
		logf("error encoding metrics:", closer.Close())
	}
	logf("error sending metrics:", bw.Flush())
}
