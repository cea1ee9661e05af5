package collector

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// prefixes[n] goes before the n-th label value in order:
	// `{name="` first, then `",name="`.
	prefixes []string
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
	for n, i := range info.order {
		sep := `",`
		if n == 0 {
			sep = "{"
		}
		info.prefixes = append(info.prefixes, sep+labels[i]+`="`)
	}
	descInfos.Store(desc, info)
	return desc
}

var (
	escapeHelp  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	escapeValue = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// family holds one descriptor's series until they are rendered: label
// values in one slice, len(info.labels) per series, in emission order.
type family struct {
	info   *descInfo
	labels []string
	values []float64
	order  []int32 // series indexes, sorted by sorted()
	errs   []error // repeated series, found by sort
}

func (f *family) series(i int32) []string {
	n := len(f.info.labels)
	return f.labels[int(i)*n : int(i)*n+n]
}

// sampleSet is what emit produced for one scrape, by family.
type sampleSet struct {
	families map[*prometheus.Desc]*family
	unknown  bool    // a descriptor newDesc did not make: render with promhttp
	errs     []error // series the registry would refuse, and why
}

// sizeHints remember how many series each family had last time, so the
// next scrape allocates its buffers once.
var sizeHints sync.Map // *prometheus.Desc -> int

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
		if h, ok := sizeHints.Load(desc); ok {
			n := h.(int)
			f.labels = make([]string, 0, n*len(f.info.labels))
			f.values = make([]float64, 0, n)
		}
		s.families[desc] = f
	}
	if err := f.check(labels); err != nil {
		s.errs = append(s.errs, err)
		return
	}
	f.labels = append(f.labels, labels...)
	f.values = append(f.values, v)
}

func (f *family) check(labels []string) error {
	if len(labels) != len(f.info.labels) {
		return fmt.Errorf("%s: %d label values for %d labels %v", f.info.name, len(labels), len(f.info.labels), f.info.labels)
	}
	for i, v := range labels {
		if !utf8.ValidString(v) {
			return fmt.Errorf("%s: label %s: value %q is not valid UTF-8", f.info.name, f.info.labels[i], v)
		}
	}
	return nil
}

// sorted returns the families by name, each with its series ordered by
// label values in label-name order, as promhttp orders them, and without
// the later of two series with the same labels, which the registry refuses
// too; and the errors the registry would report.
func (s *sampleSet) sorted() ([]*family, []error) {
	fams := make([]*family, 0, len(s.families))
	for desc, f := range s.families {
		sizeHints.Store(desc, len(f.values))
		fams = append(fams, f)
	}
	// The API calls are over and the CPUs free: sort the families side by
	// side, the largest first.
	slices.SortFunc(fams, func(a, b *family) int { return cmp.Compare(len(b.values), len(a.values)) })
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(fams)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(fams) {
					return
				}
				fams[i].sort()
			}
		})
	}
	wg.Wait()

	errs := s.errs
	out := fams[:0]
	for _, f := range fams {
		errs = append(errs, f.errs...)
		if len(f.order) > 0 {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *family) int { return strings.Compare(a.info.name, b.info.name) })
	return out, errs
}

// sort orders the family's series and drops repeats, noting them in f.errs.
func (f *family) sort() {
	f.order = make([]int32, len(f.values))
	for i := range f.order {
		f.order[i] = int32(i)
	}
	keys := f.info.order
	slices.SortFunc(f.order, func(a, b int32) int {
		la, lb := f.series(a), f.series(b)
		for _, k := range keys {
			if c := strings.Compare(la[k], lb[k]); c != 0 {
				return c
			}
		}
		return cmp.Compare(a, b) // the first emitted stays
	})
	kept := f.order[:0]
	for i, idx := range f.order {
		if i > 0 && slices.Equal(f.series(idx), f.series(kept[len(kept)-1])) {
			f.errs = append(f.errs, fmt.Errorf("collected metric %q {%s} was collected before with the same name and label values", f.info.name, f.labelText(idx)))
			continue
		}
		kept = append(kept, idx)
	}
	f.order = kept
}

// labelText is a series' labels for an error message.
func (f *family) labelText(idx int32) string {
	var b strings.Builder
	for n, i := range f.info.order {
		if n > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", f.info.labels[i], f.series(idx)[i])
	}
	return b.String()
}

// rendering is a collection's series, sorted; read-only once made.
type rendering struct {
	res     *Result
	fams    []*family
	errs    []error
	unknown bool // promhttp must render it
}

// render builds the rendering of res.
func render(c *Collector, res *Result) *rendering {
	r := &rendering{res: res, unknown: true}
	set := newSampleSet()
	c.emit(set.gauge, res)
	if !set.unknown {
		r.fams, r.errs = set.sorted()
		r.unknown = false
	}
	return r
}

// sharedRendering lets scrapes that read the same state (an HA pair of
// Prometheus servers, a person with curl, all waiting on one pass) render
// its series once: at 10,000 images each rendering is tens of MiB. It is
// kept only while a scrape uses it. The scrapes sharing it show the
// builder's scp_scrape_duration_seconds and ages, read moments apart.
type sharedRendering struct {
	mu  sync.Mutex
	cur *sharedEntry
}

type sharedEntry struct {
	target *Scope
	gens   []uint64
	ready  chan struct{}
	users  int
	r      *rendering
}

// acquire returns the rendering of t's state now, made by build or by a
// scrape that read the same state. Call release when done.
func (s *sharedRendering) acquire(t *Scope, gens []uint64, build func() *rendering) *sharedEntry {
	s.mu.Lock()
	if e := s.cur; e != nil && e.target == t && slices.Equal(e.gens, gens) {
		e.users++
		s.mu.Unlock()
		<-e.ready
		return e
	}
	e := &sharedEntry{target: t, gens: gens, ready: make(chan struct{}), users: 1}
	s.cur = e
	s.mu.Unlock()
	defer close(e.ready)
	e.r = &rendering{unknown: true} // if build panics, joiners fall back to promhttp
	e.r = build()
	return e
}

func (s *sharedRendering) release(e *sharedEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.users--
	if e.users == 0 && s.cur == e {
		s.cur = nil // nothing kept between scrapes
	}
}

// textWriter writes gauge families in the text or OpenMetrics format, as
// expfmt does. A write error sticks in the bufio.Writer, which then writes
// nothing more, and is reported by its Flush; hence the ignored results.
type textWriter struct {
	w   *bufio.Writer
	om  bool
	num []byte
}

func (t *textWriter) str(s string) { _, _ = t.w.WriteString(s) }
func (t *textWriter) ch(c byte)    { _ = t.w.WriteByte(c) }

func (t *textWriter) family(f *family) {
	info := f.info
	t.str("# HELP ")
	t.str(info.name)
	t.ch(' ')
	if t.om {
		t.str(info.helpOM)
	} else {
		t.str(info.helpText)
	}
	t.str("\n# TYPE ")
	t.str(info.name)
	t.str(" gauge\n")
	for _, idx := range f.order {
		labels := f.series(idx)
		t.str(info.name)
		for n, i := range info.order {
			t.str(info.prefixes[n])
			t.labelValue(labels[i])
		}
		if len(info.order) > 0 {
			t.str(`"} `)
		} else {
			t.ch(' ')
		}
		t.float(f.values[idx])
		t.ch('\n')
	}
}

func (t *textWriter) labelValue(v string) {
	for i := range len(v) {
		if c := v[i]; c == '\\' || c == '"' || c == '\n' {
			_, _ = escapeValue.WriteString(t.w, v)
			return
		}
	}
	t.str(v)
}

// float formats like expfmt's writeFloat and writeOpenMetricsFloat.
func (t *textWriter) float(f float64) {
	switch {
	case f == 1:
		t.str(t.pick("1", "1.0"))
	case f == 0:
		t.str(t.pick("0", "0.0"))
	case f == -1:
		t.str(t.pick("-1", "-1.0"))
	case math.IsNaN(f):
		t.str("NaN")
	case math.IsInf(f, +1):
		t.str("+Inf")
	case math.IsInf(f, -1):
		t.str("-Inf")
	default:
		t.num = strconv.AppendFloat(t.num[:0], f, 'g', -1, 64)
		if t.om && !strings.ContainsAny(string(t.num), "e.") {
			t.num = append(t.num, '.', '0')
		}
		_, _ = t.w.Write(t.num)
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
func serveText(rsp http.ResponseWriter, r *http.Request, n negotiated, rd *rendering, base prometheus.Gatherer, opts promhttp.HandlerOpts) bool {
	if rd.unknown {
		return false
	}
	own, errs := rd.fams, slices.Clip(rd.errs)
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
	var ho *handoff
	if n.encoding == "gzip" {
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(rsp)
		defer func() { gz.Close(); gz.Reset(nil); gzipWriters.Put(gz) }()
		// Compress on another CPU while this one writes the text.
		ho = newHandoff(gz)
		defer ho.Close()
		out = ho
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
		if _, err := bw.Write(nil); err != nil { // the client is gone: stop
			logErr(err)
			return true
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
	err = bw.Flush()
	if ho != nil {
		if e := ho.Close(); err == nil {
			err = e
		}
	}
	logErr(err)
	return true
}

// handoff passes what is written to it to a goroutine that writes it on to
// out, so that producing the answer and compressing it overlap.
type handoff struct {
	out    io.Writer
	work   chan []byte
	free   chan []byte
	done   chan struct{}
	err    error // the first error writing to out; read after done
	failed atomic.Bool
	closed bool
	bufs   *handoffBufs
}

const handoffChunks, handoffChunk = 3, 64 << 10

type handoffBufs [handoffChunks][]byte

var handoffBuffers = sync.Pool{New: func() any {
	var b handoffBufs
	for i := range b {
		b[i] = make([]byte, 0, handoffChunk)
	}
	return &b
}}

func newHandoff(out io.Writer) *handoff {
	h := &handoff{out: out, work: make(chan []byte, handoffChunks), free: make(chan []byte, handoffChunks), done: make(chan struct{})}
	h.bufs = handoffBuffers.Get().(*handoffBufs)
	for _, b := range h.bufs {
		h.free <- b[:0]
	}
	go h.run()
	return h
}

func (h *handoff) run() {
	defer close(h.done)
	for b := range h.work {
		if h.err == nil {
			if _, err := h.out.Write(b); err != nil {
				h.err = err
				h.failed.Store(true)
			}
		}
		h.free <- b[:0]
	}
}

var errHandoffFailed = errors.New("writing the answer failed")

// Write copies p into chunks for the writing goroutine.
func (h *handoff) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if h.failed.Load() {
			return n - len(p), errHandoffFailed
		}
		b := <-h.free
		k := min(len(p), cap(b))
		b = append(b, p[:k]...)
		h.work <- b
		p = p[k:]
	}
	return n, nil
}

// Close waits for everything written to reach out and returns the first
// error writing it.
func (h *handoff) Close() error {
	if h.closed {
		return h.err
	}
	h.closed = true
	close(h.work)
	<-h.done
	handoffBuffers.Put(h.bufs)
	return h.err
}

// emptyGatherer has nothing; promhttp serving it shows what it negotiates.
var emptyGatherer = prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, nil })
