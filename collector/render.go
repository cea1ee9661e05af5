package collector

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// A scrape of a large estate has many series: about 14 per image, so 140,000
// for 10,000 images. Turning each into a const metric, gathering them into
// protobuf messages, checking, sorting and encoding them costs far more CPU
// and memory than the API calls themselves (hundreds of MiB at 10,000
// images). So /metrics writes the collector's series straight from a compact
// buffer in the text formats, beside what the base gatherer has, in the order
// and bytes promhttp would produce. Anything this path does not handle (a
// protobuf or other format, an unknown descriptor, a name clash, handler
// options it does not implement) is served by promhttp as before.

// gaugeFunc receives one series from emit.
type gaugeFunc = func(desc *prometheus.Desc, v float64, labels ...string)

// chanGauge sends each series as a const metric, for Collect.
func chanGauge(ch chan<- prometheus.Metric) gaugeFunc {
	return func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
}

// descInfo is what rendering needs to know about a descriptor.
type descInfo struct {
	name string
	// help escaped for the text format (\ and newline) and for OpenMetrics
	// (also ").
	helpText, helpOM string
	labels           []string // variable label names, as declared
	order            []int    // indexes into labels, by label name
}

// descInfos maps the *prometheus.Desc values made by newDesc to their info.
// Descriptors are made once per label layout, so it stays small.
var descInfos sync.Map

// newDesc is prometheus.NewDesc for a gauge of this collector without const
// labels; /metrics can render the descriptor's series without client_golang.
func newDesc(fqName, help string, labels []string) *prometheus.Desc {
	desc := prometheus.NewDesc(fqName, help, labels, nil)
	if !model.LegacyValidation.IsValidMetricName(fqName) || !utf8.ValidString(help) {
		return desc // rendered by promhttp
	}
	info := &descInfo{
		name:     fqName,
		helpText: escapeHelp.Replace(help),
		helpOM:   escapeValue.Replace(help),
		labels:   slices.Clone(labels),
		order:    make([]int, len(labels)),
	}
	for i, l := range labels {
		if !model.LegacyValidation.IsValidLabelName(l) || slices.Index(labels, l) != i {
			return desc
		}
		info.order[i] = i
	}
	slices.SortFunc(info.order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	descInfos.Store(desc, info)
	return desc
}

var (
	escapeHelp  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	escapeValue = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// sample is one series waiting to be rendered.
type sample struct {
	labels []string
	value  float64
	seq    int // emission order, so the first of two equal series wins
}

type family struct {
	info    *descInfo
	samples []sample
}

// sampleSet is what emit produced for one scrape, by family.
type sampleSet struct {
	families map[*prometheus.Desc]*family
	unknown  bool // a descriptor newDesc did not make: render with promhttp
	seq      int
}

func newSampleSet() *sampleSet {
	return &sampleSet{families: make(map[*prometheus.Desc]*family, 24)}
}

func (s *sampleSet) gauge(desc *prometheus.Desc, v float64, labels ...string) {
	f := s.families[desc]
	if f == nil {
		info, ok := descInfos.Load(desc)
		if !ok {
			s.unknown = true
			return
		}
		f = &family{info: info.(*descInfo)}
		s.families[desc] = f
	}
	f.samples = append(f.samples, sample{labels: labels, value: v, seq: s.seq})
	s.seq++
}

// sorted returns the families by name, each with its series sorted by label
// values in label-name order and stripped of series the registry would
// refuse, with the errors it would report, in the order emitted.
func (s *sampleSet) sorted() ([]*family, []error) {
	type seqErr struct {
		seq int
		err error
	}
	var errs []seqErr
	out := make([]*family, 0, len(s.families))
	for _, f := range s.families {
		kept := f.samples[:0]
		for _, sm := range f.samples {
			if err := f.check(sm); err != nil {
				errs = append(errs, seqErr{sm.seq, err})
				continue
			}
			kept = append(kept, sm)
		}
		f.samples = kept
		order := f.info.order
		slices.SortFunc(f.samples, func(a, b sample) int {
			for _, i := range order {
				if c := strings.Compare(a.labels[i], b.labels[i]); c != 0 {
					return c
				}
			}
			return cmp.Compare(a.seq, b.seq)
		})
		kept = f.samples[:0]
		for i, sm := range f.samples {
			if i > 0 && slices.Equal(sm.labels, f.samples[i-1].labels) {
				errs = append(errs, seqErr{sm.seq, fmt.Errorf("collected metric %q {%s} was collected before with the same name and label values", f.info.name, f.labelText(sm))})
				continue
			}
			kept = append(kept, sm)
		}
		f.samples = kept
		if len(f.samples) > 0 {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *family) int { return strings.Compare(a.info.name, b.info.name) })
	slices.SortFunc(errs, func(a, b seqErr) int { return cmp.Compare(a.seq, b.seq) })
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e.err
	}
	return out, list
}

// labelText is a series' labels for an error message.
func (f *family) labelText(sm sample) string {
	var b strings.Builder
	for n, i := range f.info.order {
		if n > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", f.info.labels[i], sm.labels[i])
	}
	return b.String()
}

func (f *family) check(sm sample) error {
	if len(sm.labels) != len(f.info.labels) {
		return fmt.Errorf("%s: %d label values for %d labels %v", f.info.name, len(sm.labels), len(f.info.labels), f.info.labels)
	}
	for i, v := range sm.labels {
		if !utf8.ValidString(v) {
			return fmt.Errorf("%s: label %s: value %q is not valid UTF-8", f.info.name, f.info.labels[i], v)
		}
	}
	return nil
}

// textWriter writes gauge families in the text or OpenMetrics format, as
// expfmt does.
type textWriter struct {
	w   *bufio.Writer
	om  bool
	num []byte
}

func (t *textWriter) family(f *family) {
	w, info := t.w, f.info
	w.WriteString("# HELP ")
	w.WriteString(info.name)
	w.WriteByte(' ')
	if t.om {
		w.WriteString(info.helpOM)
	} else {
		w.WriteString(info.helpText)
	}
	w.WriteString("\n# TYPE ")
	w.WriteString(info.name)
	w.WriteString(" gauge\n")
	for _, sm := range f.samples {
		w.WriteString(info.name)
		sep := byte('{')
		for _, i := range info.order {
			w.WriteByte(sep)
			sep = ','
			w.WriteString(info.labels[i])
			w.WriteString(`="`)
			writeLabelValue(w, sm.labels[i])
			w.WriteByte('"')
		}
		if len(info.order) > 0 {
			w.WriteByte('}')
		}
		w.WriteByte(' ')
		t.float(sm.value)
		w.WriteByte('\n')
	}
}

func writeLabelValue(w *bufio.Writer, v string) {
	if strings.ContainsAny(v, "\\\"\n") {
		escapeValue.WriteString(w, v)
		return
	}
	w.WriteString(v)
}

// float formats like expfmt's writeFloat and writeOpenMetricsFloat.
func (t *textWriter) float(f float64) {
	switch {
	case f == 1:
		t.w.WriteString(t.pick("1", "1.0"))
	case f == 0:
		t.w.WriteString(t.pick("0", "0.0"))
	case f == -1:
		t.w.WriteString(t.pick("-1", "-1.0"))
	case math.IsNaN(f):
		t.w.WriteString("NaN")
	case math.IsInf(f, +1):
		t.w.WriteString("+Inf")
	case math.IsInf(f, -1):
		t.w.WriteString("-Inf")
	default:
		t.num = strconv.AppendFloat(t.num[:0], f, 'g', -1, 64)
		if t.om && !strings.ContainsAny(string(t.num), "e.") {
			t.num = append(t.num, '.', '0')
		}
		t.w.Write(t.num)
	}
}

func (t *textWriter) pick(text, om string) string {
	if t.om {
		return om
	}
	return text
}

// fastOptions reports whether the streaming path implements every option
// set in opts; when not, every scrape goes through promhttp.
func fastOptions(opts promhttp.HandlerOpts) bool {
	return opts.Registry == nil && opts.MaxRequestsInFlight <= 0 && opts.Timeout <= 0 && !opts.CoalesceGather
}

// negotiated is how promhttp would answer a request: its headers, the
// format and the compression.
type negotiated struct {
	header   http.Header
	format   expfmt.Format
	encoding string // "" for none
}

// negotiate asks promhttp itself, by serving the request from an empty
// gatherer into a recorder, so the content type, compression and headers
// are exactly the ones promhttp would choose. ok is false when the
// streaming path cannot produce that answer.
func negotiate(probe http.Handler, r *http.Request) (n negotiated, ok bool) {
	rec := &headerRecorder{header: http.Header{}}
	probe.ServeHTTP(rec, r)
	if rec.code != 0 && rec.code != http.StatusOK {
		return n, false
	}
	n.header = rec.header
	n.format = expfmt.Format(rec.header.Get("Content-Type"))
	n.encoding = rec.header.Get("Content-Encoding")
	switch n.format.FormatType() {
	case expfmt.TypeTextPlain:
	case expfmt.TypeOpenMetrics:
		_, params, err := mime.ParseMediaType(string(n.format))
		if err != nil || (params["version"] != expfmt.OpenMetricsVersion_1_0_0 && params["version"] != expfmt.OpenMetricsVersion_0_0_1) {
			return n, false
		}
	default:
		return n, false
	}
	return n, n.encoding == "" || n.encoding == "gzip"
}

type headerRecorder struct {
	header http.Header
	code   int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) WriteHeader(code int)        { h.code = code }
func (h *headerRecorder) Write(p []byte) (int, error) { return len(p), nil }

// gzipWriters are reused across scrapes. BestSpeed: a large answer
// compresses to a few per cent of its size either way, at a third of the CPU
// of the default level.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

var bufWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// serveText writes the answer: the collector's families and base's, merged
// by name, in the negotiated format. It reports false, having written
// nothing, when promhttp must serve the request instead.
func serveText(rsp http.ResponseWriter, r *http.Request, n negotiated, set *sampleSet, base prometheus.Gatherer, opts promhttp.HandlerOpts) bool {
	if set.unknown {
		return false
	}
	own, errs := set.sorted()
	mfs, err := base.Gather()
	if err != nil {
		errs = append(errs, err)
	}
	var filter map[string]bool
	if r.URL != nil {
		if names := r.URL.Query()["name[]"]; len(names) > 0 {
			filter = make(map[string]bool, len(names))
			for _, name := range names {
				filter[name] = true
			}
		}
	}
	names := make(map[string]bool, len(own))
	for _, f := range own {
		names[f.info.name] = true
	}
	for _, mf := range mfs {
		if names[mf.GetName()] {
			return false // the same family from both: promhttp merges or refuses it
		}
	}

	if len(errs) > 0 {
		err := errs[0]
		if len(errs) > 1 {
			err = prometheus.MultiError(errs)
		}
		if opts.ErrorLog != nil {
			opts.ErrorLog.Println("error gathering metrics:", err)
		}
		switch opts.ErrorHandling {
		case promhttp.PanicOnError:
			panic(err)
		case promhttp.HTTPErrorOnError:
			rsp.Header().Del("Content-Encoding")
			http.Error(rsp, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return true
		}
	}

	h := rsp.Header()
	for k, v := range n.header {
		h[k] = v
	}
	var out io.Writer = rsp
	if n.encoding == "gzip" {
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(rsp)
		defer func() { gz.Close(); gz.Reset(nil); gzipWriters.Put(gz) }()
		out = gz
	}
	bw := bufWriters.Get().(*bufio.Writer)
	bw.Reset(out)
	defer func() { bw.Reset(nil); bufWriters.Put(bw) }()

	var encOpts []expfmt.EncoderOption
	if opts.EnableOpenMetricsTextCreatedSamples {
		encOpts = append(encOpts, expfmt.WithCreatedLines())
	}
	enc := expfmt.NewEncoder(bw, n.format, encOpts...)
	tw := &textWriter{w: bw, om: n.format.FormatType() == expfmt.TypeOpenMetrics}
	logErr := func(err error) bool {
		if err == nil {
			return false
		}
		if opts.ErrorLog != nil {
			opts.ErrorLog.Println("error encoding and sending metric family:", err)
		}
		switch opts.ErrorHandling {
		case promhttp.PanicOnError:
			panic(err)
		case promhttp.HTTPErrorOnError:
			return true
		}
		return false
	}
	i := 0
	for _, mf := range mfs {
		for ; i < len(own) && own[i].info.name < mf.GetName(); i++ {
			if filter == nil || filter[own[i].info.name] {
				tw.family(own[i])
			}
		}
		if filter != nil && !filter[mf.GetName()] {
			continue
		}
		if logErr(enc.Encode(mf)) {
			bw.Flush()
			return true
		}
	}
	for ; i < len(own); i++ {
		if filter == nil || filter[own[i].info.name] {
			tw.family(own[i])
		}
	}
	if closer, ok := enc.(expfmt.Closer); ok {
		if logErr(closer.Close()) {
			bw.Flush()
			return true
		}
	}
	logErr(bw.Flush())
	return true
}

// emptyGatherer has nothing; promhttp serving it shows what it negotiates.
var emptyGatherer = prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, nil })
