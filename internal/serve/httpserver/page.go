package httpserver

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// A scrape's page is produced in memory, then sent: the slot of
// --web.max-requests is held while it is produced (waiting for the
// accounts, rendering), never while a client reads, or does not. Kept
// compressed, a page costs little to hold: at 10,000 images 578 KiB, where
// the text is 11 MiB.
const (
	// SendTimeout is how long a finished page may take to be sent, plus a
	// second for each MinSendRate bytes of it: a client that does not read
	// is cut then, and the page freed.
	SendTimeout = 5 * time.Second
	// MinSendRate is the slowest reader SendTimeout allows for, in bytes a
	// second on the wire.
	MinSendRate = 1 << 20
)

// sendTime is how long n bytes may take to be sent.
func sendTime(n int64) time.Duration {
	return SendTimeout + time.Duration(n*int64(time.Second)/MinSendRate)
}

// page is an http.ResponseWriter that keeps the answer in memory, to be sent
// once the handler is done. Its header is the real writer's (nothing is sent
// before send). A body the handler did not encode is kept gzip-compressed
// and inflated as it is sent; one it did encode is kept as it is.
type page struct {
	header http.Header
	status int
	body   chunks
	zw     *gzip.Writer // compresses the body kept, when the handler does not; back in its pool once finished
	zipped bool         // the body kept is compressed (send inflates it)
	raw    int64        // body bytes the handler wrote
}

func newPage(w http.ResponseWriter) *page { return &page{header: w.Header()} }

func (p *page) Header() http.Header { return p.header }

func (p *page) WriteHeader(code int) {
	if p.status != 0 {
		return
	}
	p.status = code
	if ce := p.header.Get("Content-Encoding"); ce == "" || ce == "identity" {
		p.zw = gzipWriters.Get().(*gzip.Writer)
		p.zw.Reset(&p.body)
		p.zipped = true
	}
}

func (p *page) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.WriteHeader(http.StatusOK)
	}
	p.raw += int64(len(b))
	if p.zw != nil {
		return p.zw.Write(b)
	}
	return p.body.Write(b)
}

// finish ends the body once the handler is done.
func (p *page) finish() {
	if p.status == 0 {
		p.WriteHeader(http.StatusOK)
	}
	if p.zw != nil {
		_ = p.zw.Close() // writes to memory: no error
		p.zw.Reset(io.Discard)
		gzipWriters.Put(p.zw)
		p.zw = nil // another page may take it now
	}
}

// send writes the page to w, which has deadline(bytes sent) to take it, and
// frees it. It returns the write's error.
func (p *page) send(w http.ResponseWriter, deadline func(n int64) time.Duration) error {
	defer p.body.free()
	inflate := p.zipped
	n := int64(p.body.Len())
	if inflate {
		n = p.raw
	}
	if p.header.Get("Content-Length") == "" && bodyAllowed(p.status) {
		p.header.Set("Content-Length", strconv.FormatInt(n, 10))
	}
	// Errors mean the connection cannot take a deadline (a test recorder):
	// the server's WriteTimeout then applies.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(deadline(n)))
	w.WriteHeader(p.status)
	if !inflate {
		_, err := p.body.WriteTo(w)
		return err
	}
	zr := gzipReaders.Get().(*gzip.Reader)
	defer gzipReaders.Put(zr)
	if err := zr.Reset(p.body.reader()); err != nil {
		return err // cannot happen: the body is what zw wrote
	}
	_, err := io.Copy(w, zr)
	return err
}

// bodyAllowed reports whether an answer of status has a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

var (
	gzipWriters = sync.Pool{New: func() any {
		// BestSpeed, as the exposition's: the page is compressed to keep,
		// at little CPU.
		w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
		return w
	}}
	gzipReaders = sync.Pool{New: func() any { return new(gzip.Reader) }}
)

// chunkSize is the size of the pieces a body is kept in: no copy as it
// grows, and no more than a piece unused.
const chunkSize = 32 << 10

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// chunks is a body kept in pieces from chunkPool.
type chunks struct {
	pieces []*[chunkSize]byte
	last   int // bytes used in the last piece
}

func (c *chunks) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if len(c.pieces) == 0 || c.last == chunkSize {
			c.pieces = append(c.pieces, chunkPool.Get().(*[chunkSize]byte))
			c.last = 0
		}
		k := copy(c.pieces[len(c.pieces)-1][c.last:], b)
		c.last += k
		b = b[k:]
	}
	return n, nil
}

// Len is the number of bytes kept.
func (c *chunks) Len() int {
	if len(c.pieces) == 0 {
		return 0
	}
	return (len(c.pieces)-1)*chunkSize + c.last
}

// piece is the i-th piece's bytes.
func (c *chunks) piece(i int) []byte {
	if i == len(c.pieces)-1 {
		return c.pieces[i][:c.last]
	}
	return c.pieces[i][:]
}

// WriteTo writes the bytes kept to w.
func (c *chunks) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for i := range c.pieces {
		n, err := w.Write(c.piece(i))
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// reader reads the bytes kept.
func (c *chunks) reader() io.Reader {
	readers := make([]io.Reader, len(c.pieces))
	for i := range c.pieces {
		readers[i] = bytes.NewReader(c.piece(i))
	}
	return io.MultiReader(readers...)
}

// free gives the pieces back.
func (c *chunks) free() {
	for _, p := range c.pieces {
		chunkPool.Put(p)
	}
	c.pieces, c.last = nil, 0
}
