package httpserver

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// discard is a ResponseWriter that drops what it is sent.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) WriteHeader(int)             {}
func (discard) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkPage is what keeping a page in memory costs a scrape of 10,000
// images (11 MiB of text), beside writing it straight to the connection
// (direct): for a client without gzip the page is compressed to be kept
// and inflated as it is sent; one with gzip gets the handler's bytes.
func BenchmarkPage(b *testing.B) {
	var text strings.Builder
	for i := 0; text.Len() < 11<<20; i++ {
		fmt.Fprintf(&text, "scp_image_member_info{expected=\"true\",image_id=\"%08x-0000-4000-8000-%012x\",member_id=\"a8f10467abfc4b87b64614ab36eb9ae4\",status=\"accepted\"} 1\n", i, i)
	}
	page := []byte(text.String())
	for _, gz := range []bool{false, true} {
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			var out io.Writer = w
			if gz {
				w.Header().Set("Content-Encoding", "gzip")
				zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
				defer zw.Close()
				out = zw
			}
			for p := page; len(p) > 0; p = p[min(len(p), 64<<10):] {
				_, _ = out.Write(p[:min(len(p), 64<<10)])
			}
		})
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		for _, kept := range []bool{false, true} {
			served := http.Handler(h)
			if kept {
				served = Metrics(h, 0)
			}
			b.Run(fmt.Sprintf("gzip=%t/kept=%t", gz, kept), func(b *testing.B) {
				b.SetBytes(int64(len(page)))
				for b.Loop() {
					served.ServeHTTP(discard{http.Header{}}, r)
				}
			})
		}
	}
}
