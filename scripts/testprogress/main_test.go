package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressPrintsResultsSlowTestsAndFailures(t *testing.T) {
	stream := `{"Action":"start","Package":"a"}
{"Action":"run","Package":"a","Test":"TestFast"}
{"Action":"output","Package":"a","Test":"TestFast","Output":"=== RUN   TestFast\n"}
{"Action":"pass","Package":"a","Test":"TestFast","Elapsed":0.1}
{"Action":"run","Package":"a","Test":"TestSlow"}
{"Action":"run","Package":"a","Test":"TestSlow/sub"}
{"Action":"pass","Package":"a","Test":"TestSlow/sub","Elapsed":11}
{"Action":"pass","Package":"a","Test":"TestSlow","Elapsed":12.5}
{"Action":"output","Package":"a","Output":"PASS\n"}
{"Action":"output","Package":"a","Output":"ok  \ta\t13.0s\n"}
{"Action":"pass","Package":"a","Elapsed":13}
{"Action":"run","Package":"b","Test":"TestBroken"}
{"Action":"run","Package":"b","Test":"TestBroken/case"}
{"Action":"output","Package":"b","Test":"TestBroken/case","Output":"    b_test.go:9: got 1, want 2\n"}
{"Action":"fail","Package":"b","Test":"TestBroken/case","Elapsed":0}
{"Action":"fail","Package":"b","Test":"TestBroken","Elapsed":0}
{"Action":"output","Package":"b","Output":"FAIL\tb\t0.1s\n"}
{"Action":"fail","Package":"b","Elapsed":0.1}
{"ImportPath":"c","Action":"build-output","Output":"c/x.go:1:1: syntax error\n"}
{"ImportPath":"c","Action":"build-fail"}
not json
`
	var buf bytes.Buffer
	newProgress(&buf).read(strings.NewReader(stream), time.Now)
	want := "    a TestSlow pass (12.5s)\n" +
		"ok  \ta\t13.0s\n" +
		"    b_test.go:9: got 1, want 2\n" +
		"FAIL\tb\t0.1s\n" +
		"c/x.go:1:1: syntax error\n" +
		"not json\n"
	if got := buf.String(); got != want {
		t.Errorf("printed\n%s\nwant\n%s", got, want)
	}
}

func TestProgressReportsLongRunningTests(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.line([]byte(`{"Action":"run","Package":"e2e","Test":"TestLong"}`), start)
	p.line([]byte(`{"Action":"run","Package":"e2e","Test":"TestParallel"}`), start)
	p.line([]byte(`{"Action":"pause","Package":"e2e","Test":"TestParallel"}`), start)
	for _, s := range []int{5, 10, 15, 70, 75} {
		p.tick(start.Add(time.Duration(s) * time.Second))
	}
	want := "    e2e TestLong running for 10s\n" +
		"    e2e TestLong running for 1m10s\n"
	if got := buf.String(); got != want {
		t.Errorf("printed\n%s\nwant\n%s", got, want)
	}
	p.line([]byte(`{"Action":"pass","Package":"e2e","Test":"TestLong","Elapsed":80}`), start.Add(80*time.Second))
	buf.Reset()
	p.tick(start.Add(200 * time.Second))
	if buf.Len() != 0 {
		t.Errorf("a finished or paused test is reported: %q", buf.String())
	}
}
