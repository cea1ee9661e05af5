package scp

import (
	"context"
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkSignRequest is the per-request work before a call goes out:
// building the URL and the request, setting the SCP headers and signing.
func BenchmarkSignRequest(b *testing.B) {
	c, err := NewClient(Options{
		BaseURL:   "https://virtualserver.kr-west1.e.samsungsdscloud.com",
		AccessKey: "AKtest0123456789", SecretKey: "sk-TEST-secret-do-not-log-7f3a",
		AccountID: "0123456789abcdef0123456789abcdef", UserAgent: "scp_exporter/bench",
	})
	if err != nil {
		b.Fatal(err)
	}
	const id = "70a599e0-31e7-49b7-b260-868f441e862b"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateImageID(id); err != nil {
			b.Fatal(err)
		}
		full := c.BaseURL() + "/v1/images/" + url.PathEscape(id) + "/members"
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, full, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.sign(req, c.versionHeader(OpListImageMembers))
	}
}
