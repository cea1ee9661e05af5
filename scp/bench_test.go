package scp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// Benchmarks of the client's per-request work. `make bench` runs them with
// -benchmem; BENCHMARKS.md has the figures.

// benchMembers is a members answer as the API sends it: three members with
// timestamps, the shape the load run uses.
var benchMembers = []scptest.Member{
	{MemberID: "a8f10467abfc4b87b64614ab36eb9ae4", Status: "accepted", CreatedAt: "2025-07-22T09:00:00Z", UpdatedAt: "2025-07-26T12:00:00Z"},
	{MemberID: "3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f", Status: "pending", CreatedAt: "2025-11-02T08:30:00Z", UpdatedAt: "2025-11-02T08:30:00.5Z"},
	{MemberID: "ffee0011223344556677889900aabbcc", Status: "rejected", CreatedAt: "2025-01-02T03:04:05Z", UpdatedAt: "2025-02-03T04:05:06Z"},
}

// benchMembersBody is the members answer the fake serves for benchMembers.
func benchMembersBody(b *testing.B) []byte {
	b.Helper()
	members := slices.Clone(benchMembers)
	for i := range members {
		members[i].ImageID = testImageID
	}
	body, err := json.Marshal(map[string]any{"members": members})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkSign(b *testing.B) {
	in := scp.SigningInput{
		Method:     http.MethodGet,
		URL:        "https://virtualserver.kr-west1.e.samsungsdscloud.com/v1/images/" + testImageID + "/members",
		Timestamp:  "1605290625682",
		AccessKey:  testAccessKey,
		AccountID:  "0123456789abcdef0123456789abcdef",
		ClientType: scp.ClientType,
	}
	secret := []byte(testSecretKey)
	b.ReportAllocs()
	for b.Loop() {
		scp.Sign(in, secret)
	}
}

func BenchmarkDecodeMembers(b *testing.B) {
	body := benchMembersBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scp.DecodeMembers(body); err != nil {
			b.Fatal(err)
		}
	}
}

// cannedTransport answers every request with the same 200 body, so a
// benchmark sees the client's own cost without a network or a server.
type cannedTransport struct{ body []byte }

func (t cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(t.body)),
		ContentLength: int64(len(t.body)),
		Request:       r,
	}, nil
}

// BenchmarkListImageMembers is one call as the exporter makes it (rate
// limiter, metrics, validation, signing, decoding): against a canned answer
// (transport=canned: the client alone), and against the fake API on
// loopback with the exporter's HTTP client (transport=loopback: client,
// net/http and the fake's signature check, all in this process).
func BenchmarkListImageMembers(b *testing.B) {
	body := benchMembersBody(b)
	newClient := func(b *testing.B, base string, hc *http.Client) *scp.Client {
		c, err := scp.NewClient(scp.Options{
			BaseURL: base, AccessKey: testAccessKey, SecretKey: testSecretKey,
			AccountID:  "0123456789abcdef0123456789abcdef",
			HTTPClient: hc, MaxRetries: 2,
			Budget:    scp.NewBudget(1e9, 16, nil),
			Metrics:   scp.NewMetrics(),
			UserAgent: "scp_exporter/bench",
		})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	run := func(b *testing.B, c *scp.Client) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.ListImageMembers(ctx, testImageID); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("transport=canned", func(b *testing.B) {
		run(b, newClient(b, "https://virtualserver.kr-west1.e.samsungsdscloud.com", &http.Client{Transport: cannedTransport{body}}))
	})
	b.Run("transport=loopback", func(b *testing.B) {
		fake := scptest.New(scptest.Options{AccessKey: testAccessKey, SecretKey: testSecretKey})
		fake.SetMembers(testImageID, benchMembers...)
		srv := httptest.NewServer(fake)
		defer srv.Close()
		run(b, newClient(b, srv.URL, exporterHTTPClient(b)))
	})
	b.Run("transport=loopback/parallel=16", func(b *testing.B) {
		fake := scptest.New(scptest.Options{AccessKey: testAccessKey, SecretKey: testSecretKey})
		fake.SetMembers(testImageID, benchMembers...)
		srv := httptest.NewServer(fake)
		defer srv.Close()
		c := newClient(b, srv.URL, exporterHTTPClient(b))
		b.ReportAllocs()
		b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 calls in flight on this machine
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.ListImageMembers(context.Background(), testImageID); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// exporterHTTPClient is the HTTP client the exporter builds for an account.
func exporterHTTPClient(b *testing.B) *http.Client {
	hc, err := commoncfg.NewClientFromConfig(commoncfg.HTTPClientConfig{EnableHTTP2: true},
		"scp_exporter", commoncfg.WithIdleConnTimeout(90*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	return hc
}
