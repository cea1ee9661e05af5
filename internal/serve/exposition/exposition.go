// Package exposition writes a collector's metric families to /metrics
// without turning each series into a client_golang metric: at 10,000 images
// a scrape has about 100,000 series, and building, gathering and sorting
// that many protobuf messages costs more memory and CPU than the API calls
// behind them. The collector decides which series exist and hands them to a
// Sink family by family; the Writer streams them in the text or OpenMetrics
// format, in the order they come, then whatever the base gatherer has
// through expfmt. Other formats (protobuf) are served by promhttp from the
// same series as const metrics (ConstMetrics).
package exposition

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/scp-exporter/scp_exporter/internal/metric"
)

// Desc is a metric family: its name, help, type and variable label names.
type Desc struct {
	prom   *prometheus.Desc
	name   string
	typ    metric.Type
	labels []string
	// header[0] and header[1] are the family's HELP and TYPE lines in the
	// text format and in OpenMetrics.
	header [2]string
	// prefixes[n] goes before the value of the n-th label in name order:
	// `{name="` first, then `",name="`; order[n] is that label's index.
	prefixes []string
	order    []int
	// A histogram's sample names, and what opens the le label of its
	// buckets: `{le="` without other labels, `",le="` after them.
	bucket, sum, count, le string
}

// NewDesc describes a family of type typ. Its name and label names must be
// valid legacy Prometheus names, distinct, and a histogram may not have an
// "le" label; it panics otherwise, as prometheus.MustRegister and
// prometheus.NewHistogramVec would.
//
// A counter's name should end in "_total": OpenMetrics then names the
// family without the suffix in its HELP and TYPE lines and its samples with
// it; a counter without the suffix is typed "unknown" there, as expfmt
// does.
func NewDesc(name, help string, typ metric.Type, labels ...string) *Desc {
	if !model.LegacyValidation.IsValidMetricName(name) {
		panic(fmt.Sprintf("exposition: invalid metric name %q", name))
	}
	switch typ {
	case metric.Gauge, metric.Counter, metric.Histogram:
	default:
		panic(fmt.Sprintf("exposition: %s: unknown metric type %d", name, typ))
	}
	d := &Desc{
		prom:   prometheus.NewDesc(name, help, labels, nil),
		name:   name,
		typ:    typ,
		labels: slices.Clone(labels),
		order:  make([]int, len(labels)),
	}
	for i, l := range labels {
		if !model.LegacyValidation.IsValidLabelName(l) || slices.Index(labels, l) != i {
			panic(fmt.Sprintf("exposition: %s: invalid or repeated label name %q", name, l))
		}
		if typ == metric.Histogram && l == model.BucketLabel {
			panic(fmt.Sprintf("exposition: %s: %q is not allowed as a histogram's label name", name, l))
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

	// The family's name in OpenMetrics' HELP and TYPE lines and its type
	// there, as expfmt's MetricFamilyToOpenMetrics writes them.
	omName, omType := name, typ.String()
	if typ == metric.Counter {
		if base, ok := strings.CutSuffix(name, "_total"); ok {
			omName = base
		} else {
			omType = "unknown"
		}
	}
	d.header = [2]string{
		"# HELP " + name + " " + escapeHelp.Replace(help) + "\n# TYPE " + name + " " + typ.String() + "\n",
		"# HELP " + omName + " " + escapeValue.Replace(help) + "\n# TYPE " + omName + " " + omType + "\n",
	}
	if typ == metric.Histogram {
		d.bucket, d.sum, d.count = name+"_bucket", name+"_sum", name+"_count"
		d.le = `{le="`
		if len(labels) > 0 {
			d.le = `",le="`
		}
	}
	return d
}

// Name is the family's name.
func (d *Desc) Name() string { return d.name }

// Type is the family's metric type.
func (d *Desc) Type() metric.Type { return d.typ }

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

// Sink receives one collection's series, family after family (each
// family's series together), each with its family and its label values in
// the order of the family's label names. Label values must be valid UTF-8.
type Sink interface {
	// Value writes a gauge's or a counter's series.
	Value(d *Desc, v float64, labels ...string)
	// Histogram writes a histogram's series: h's bounds ascending, without
	// +Inf, and its counts cumulative, one per bound.
	Histogram(d *Desc, h *metric.HistogramValue, labels ...string)
}

// checkValue and checkHistogram say why a series cannot be written, or nil.
func checkValue(d *Desc, labels []string) error {
	if d.typ == metric.Histogram {
		return fmt.Errorf("%s: a value for a histogram", d.name)
	}
	return checkLabels(d, labels)
}

func checkHistogram(d *Desc, h *metric.HistogramValue, labels []string) error {
	if d.typ != metric.Histogram {
		return fmt.Errorf("%s: a histogram for a %s", d.name, d.typ)
	}
	if len(h.Bounds) != len(h.Counts) {
		return fmt.Errorf("%s: %d bucket counts for %d bounds", d.name, len(h.Counts), len(h.Bounds))
	}
	for i, b := range h.Bounds {
		if math.IsNaN(b) || math.IsInf(b, +1) || (i > 0 && b <= h.Bounds[i-1]) {
			return fmt.Errorf("%s: bounds %v are not ascending and below +Inf", d.name, h.Bounds)
		}
	}
	return checkLabels(d, labels)
}

func checkLabels(d *Desc, labels []string) error {
	if len(labels) != len(d.labels) {
		return fmt.Errorf("%s: %d label values for labels %v", d.name, len(labels), d.labels)
	}
	return nil
}

// Writer writes metric families in the text or OpenMetrics format, as
// expfmt writes them. Each family's series must come together: a family
// that comes back after another one started would make the answer invalid,
// so its series are dropped and reported by Err, as are series that do not
// fit their family (see Err). A write error sticks in the bufio.Writer and
// is reported by Flush.
type Writer struct {
	w    *bufio.Writer
	om   bool
	cur  *Desc
	done map[string]bool
	err  error
	num  []byte
}

var _ Sink = (*Writer)(nil)

// NewWriter returns a writer of the text format, or of OpenMetrics.
func NewWriter(w *bufio.Writer, openMetrics bool) *Writer {
	return &Writer{w: w, om: openMetrics, done: map[string]bool{}}
}

// Err is the first misuse: a family split in two (or two descriptors of
// the same name), a series with the wrong number of labels, a value for a
// histogram or a histogram for a gauge or counter, a histogram whose bounds
// and counts differ in number or whose bounds are not ascending below +Inf.
func (t *Writer) Err() error { return t.err }

// Value writes a gauge's or a counter's series, with its family's HELP and
// TYPE lines first when it starts a family.
func (t *Writer) Value(d *Desc, v float64, labels ...string) {
	if len(labels) != len(d.labels) || d.typ == metric.Histogram {
		t.fail(checkValue(d, labels))
		return
	}
	if d != t.cur && !t.start(d) {
		return
	}
	t.str(d.name)
	t.labelSet(d, labels)
	t.float(v)
	t.ch('\n')
}

// Histogram writes a histogram's series: a bucket for each bound, the +Inf
// bucket with h.Count, then the sum and the count, with its family's HELP
// and TYPE lines first when it starts a family.
func (t *Writer) Histogram(d *Desc, h *metric.HistogramValue, labels ...string) {
	if err := checkHistogram(d, h, labels); err != nil {
		t.fail(err)
		return
	}
	if d != t.cur && !t.start(d) {
		return
	}
	for i, b := range h.Bounds {
		t.bucket(d, labels, b, h.Counts[i])
	}
	t.bucket(d, labels, math.Inf(+1), h.Count)
	t.str(d.sum)
	t.labelSet(d, labels)
	t.float(h.Sum)
	t.ch('\n')
	t.str(d.count)
	t.labelSet(d, labels)
	t.uint(h.Count)
	t.ch('\n')
}

// start begins d's family, closing the current one, unless it was closed
// before.
func (t *Writer) start(d *Desc) bool {
	switch {
	case t.cur != nil && t.cur.name == d.name:
		t.fail(fmt.Errorf("%s: series of another descriptor of the same name", d.name))
		return false
	case t.done[d.name]:
		t.fail(fmt.Errorf("%s: series after the family was closed by another", d.name))
		return false
	}
	if t.cur != nil {
		t.done[t.cur.name] = true
	}
	t.cur = d
	t.str(d.header[boolIndex(t.om)])
	return true
}

func (t *Writer) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// labelSet writes the series' labels in name order, if it has any, and the
// space before its value.
func (t *Writer) labelSet(d *Desc, labels []string) {
	for n, i := range d.order {
		t.str(d.prefixes[n])
		t.labelValue(labels[i])
	}
	if len(d.order) > 0 {
		t.str(`"} `)
	} else {
		t.ch(' ')
	}
}

// bucket writes a histogram's bucket: le after the other labels.
func (t *Writer) bucket(d *Desc, labels []string, le float64, n uint64) {
	t.str(d.bucket)
	for k, i := range d.order {
		t.str(d.prefixes[k])
		t.labelValue(labels[i])
	}
	t.str(d.le)
	t.float(le)
	t.str(`"} `)
	t.uint(n)
	t.ch('\n')
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

// uint formats a count as expfmt does: an integer in OpenMetrics, a float
// in the text format (1e+06 for a million).
func (t *Writer) uint(n uint64) {
	if t.om {
		t.num = strconv.AppendUint(t.num[:0], n, 10)
	} else {
		t.num = strconv.AppendFloat(t.num[:0], float64(n), 'g', -1, 64)
	}
	_, _ = t.w.Write(t.num)
}

// ConstMetrics returns a Sink that sends each series to ch as a
// client_golang const metric (a gauge, counter or histogram as its family
// says), for promhttp's path (protobuf) and for prometheus.Collector's
// Collect. A series that does not fit its family (see Writer.Err) is sent
// as an invalid metric, which the registry reports when it gathers.
func ConstMetrics(ch chan<- prometheus.Metric) Sink { return constMetrics(ch) }

type constMetrics chan<- prometheus.Metric

func (ch constMetrics) Value(d *Desc, v float64, labels ...string) {
	if err := checkValue(d, labels); err != nil {
		ch <- prometheus.NewInvalidMetric(d.prom, err)
		return
	}
	vt := prometheus.GaugeValue
	if d.typ == metric.Counter {
		vt = prometheus.CounterValue
	}
	m, err := prometheus.NewConstMetric(d.prom, vt, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d.prom, err)
	}
	ch <- m
}

func (ch constMetrics) Histogram(d *Desc, h *metric.HistogramValue, labels ...string) {
	if err := checkHistogram(d, h, labels); err != nil {
		ch <- prometheus.NewInvalidMetric(d.prom, err)
		return
	}
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Counts[i]
	}
	m, err := prometheus.NewConstHistogram(d.prom, h.Count, h.Sum, buckets, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d.prom, err)
	}
	ch <- m
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
	case expfmt.TypeTextPlain:
		return f, true
	case expfmt.TypeOpenMetrics:
		// The writer writes OpenMetrics 1.0.0 (and 0.0.1, the same);
		// 2.0.0, offered only if opts ask for it, is promhttp's.
		return f, !strings.Contains(string(f), "version="+expfmt.OpenMetricsVersion_2_0_0)
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

// Serve answers a scrape. In the text formats, emit writes the collector's
// series into a Writer, then base's families follow through expfmt; in any
// other format promhttp serves fallback (the same series as client_golang
// metrics, see ConstMetrics) beside base. Errors are logged through
// opts.ErrorLog and the answer goes on, as with promhttp.ContinueOnError.
func Serve(w http.ResponseWriter, r *http.Request, emit func(Sink), fallback prometheus.Collector, base prometheus.Gatherer, opts promhttp.HandlerOpts) {
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
	emit(tw)
	logf("error writing metrics:", tw.Err())
	mfs, err := base.Gather()
	logf("error gathering metrics:", err)
	var encOpts []expfmt.EncoderOption
	if opts.EnableOpenMetricsTextCreatedSamples { // as promhttp; const metrics have none
		encOpts = append(encOpts, expfmt.WithCreatedLines())
	}
	enc := expfmt.NewEncoder(bw, format, encOpts...)
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
