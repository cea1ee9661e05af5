package scp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scp-exporter/scp_exporter/internal/metric"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	testAccessKey = "AKtest0123456789"
	// testSecretKey must never appear in any error, log or header.
	testSecretKey = "sk-TEST-secret-do-not-log-7f3a"
	testImageID   = "70a599e0-31e7-49b7-b260-868f441e862b"
	testMemberID  = "a8f10467abfc4b87b64614ab36eb9ae4"
	op            = string(scp.OpListImageMembers)
)

// env is a client wired to a fake API, with its own metrics registry.
type env struct {
	fake   *scptest.Fake
	srv    *httptest.Server
	reg    *prometheus.Registry
	client *scp.Client
	// bodyBytes counts response body bytes the client read.
	bodyBytes *atomic.Int64
}

// newEnv starts a fake API behind handler (the fake itself when nil) and a
// client for it; adjust changes the client options before NewClient.
func newEnv(t *testing.T, wrap func(http.Handler) http.Handler, adjust func(*scp.Options)) *env {
	t.Helper()
	fake := scptest.New(scptest.Options{AccessKey: testAccessKey, SecretKey: testSecretKey})
	var h http.Handler = fake
	if wrap != nil {
		h = wrap(fake)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{fake: fake, srv: srv, reg: prometheus.NewRegistry(), bodyBytes: &atomic.Int64{}}
	base := srv.Client().Transport
	opts := scp.Options{
		BaseURL:    srv.URL,
		AccessKey:  testAccessKey,
		SecretKey:  testSecretKey,
		HTTPClient: &http.Client{Transport: countingTransport{base, e.bodyBytes}},
		Metrics:    registeredMetrics(e.reg),
	}
	if adjust != nil {
		adjust(&opts)
	}
	c, err := scp.NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	e.client = c
	return e
}

// countingTransport counts the response body bytes its caller reads.
type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{resp.Body, c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// metricValue returns the value of the counter (or histogram sample count)
// name{labels}, and whether that series exists.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			pairs := m.GetLabel()
			match := len(pairs) == len(labels)
			for _, lp := range pairs {
				if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
					match = false
				}
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// counter is metricValue for a series that must exist.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := metricValue(t, reg, name, labels)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func errorsTotal(t *testing.T, reg *prometheus.Registry, reason scp.Reason) float64 {
	t.Helper()
	return counter(t, reg, "scp_api_request_errors_total", map[string]string{"operation": op, "reason": string(reason)})
}

func retriesTotal(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	return counter(t, reg, "scp_api_request_retries_total", map[string]string{"operation": op})
}

// requestsTotal is 0 when the series does not exist.
func requestsTotal(t *testing.T, reg *prometheus.Registry, code string) float64 {
	t.Helper()
	v, _ := metricValue(t, reg, "scp_api_requests_total", map[string]string{"operation": op, "code": code})
	return v
}

// registeredMetrics returns request metrics whose families reg gathers,
// as the collector writes them for an account of the single-account form.
func registeredMetrics(reg prometheus.Registerer) *scp.Metrics {
	m := scp.NewMetrics()
	reg.MustRegister(metric.NewCollector(func() *scp.Metrics { return m }, scp.RequestFamilies...))
	return m
}
