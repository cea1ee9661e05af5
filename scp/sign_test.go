package scp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
)

// The vector from the official SDK's own signing function (shared/scp-api.md).
func TestSignVector(t *testing.T) {
	in := scp.SigningInput{
		Method:     "GET",
		URL:        "https://virtualserver.kr-west1.e.samsungsdscloud.com/v1/images/70a599e0-31e7-49b7-b260-868f441e862b/members",
		Timestamp:  "1605290625682",
		AccessKey:  "2sd2gg=2agbdSD26svcD",
		AccountID:  "",
		ClientType: scp.ClientType,
	}
	const want = "S746euFkvgmceK4W3qyNZc4hZgU1kDyJMkmQnLReshA="
	if got := scp.Sign(in, []byte("example-secret-key")); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}

	// Every input is covered: changing any one of them changes the signature.
	mutations := map[string]func(*scp.SigningInput){
		"method":      func(i *scp.SigningInput) { i.Method = "get" },
		"url":         func(i *scp.SigningInput) { i.URL += "?limit=1" },
		"timestamp":   func(i *scp.SigningInput) { i.Timestamp = "1605290625683" },
		"access key":  func(i *scp.SigningInput) { i.AccessKey = "2sd2gg=2agbdSD26svcd" },
		"account id":  func(i *scp.SigningInput) { i.AccountID = "acct" },
		"client type": func(i *scp.SigningInput) { i.ClientType = "OpenApi" },
	}
	for name, mutate := range mutations {
		m := in
		mutate(&m)
		if got := scp.Sign(m, []byte("example-secret-key")); got == want {
			t.Errorf("changing the %s did not change the signature", name)
		}
	}
	if got := scp.Sign(in, []byte("example-secret-kez")); got == want {
		t.Error("changing the secret key did not change the signature")
	}
}

func TestTimestampIsUnixMilliseconds(t *testing.T) {
	ts := time.Date(2020, time.November, 13, 18, 3, 45, 682_999_999, time.UTC)
	if got, want := scp.Timestamp(ts), "1605290625682"; got != want {
		t.Fatalf("Timestamp = %q, want %q", got, want)
	}
	kst := ts.In(time.FixedZone("KST", 9*3600))
	if got := scp.Timestamp(kst); got != "1605290625682" {
		t.Fatalf("Timestamp depends on the zone: %q", got)
	}
}

// recorder is an API stand-in that keeps the requests it received.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, r.Clone(context.Background()))
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"members":[]}`))
}

func (rec *recorder) last(t *testing.T) *http.Request {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("the server received no request")
	}
	return rec.reqs[len(rec.reqs)-1]
}

// A real request carries every header the contract lists, signed over the
// exact URL that went on the wire (path prefix and port included).
func TestRequestHeaders(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	clock := time.UnixMilli(1_754_000_000_123)

	tests := []struct {
		name        string
		base        string
		accountID   string
		version     string
		language    string
		wantVersion string
		wantLang    string
	}{
		{name: "defaults", base: srv.URL + "/scp/proxy", wantVersion: "virtualserver 1.3", wantLang: "en-US"},
		{name: "trailing slash on the endpoint", base: srv.URL + "/scp/proxy/", wantVersion: "virtualserver 1.3", wantLang: "en-US"},
		{name: "chosen version, language and account", base: srv.URL + "/scp/proxy", accountID: "acct-0001",
			version: "1.1", language: "ko-KR", wantVersion: "virtualserver 1.1", wantLang: "ko-KR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := scp.Options{
				BaseURL:    tc.base,
				AccessKey:  testAccessKey,
				SecretKey:  testSecretKey,
				AccountID:  tc.accountID,
				Language:   tc.language,
				HTTPClient: srv.Client(),
				Now:        func() time.Time { return clock },
			}
			if tc.version != "" {
				v, err := scp.LookupAPIVersion(tc.version)
				if err != nil {
					t.Fatal(err)
				}
				opts.APIVersion = v
			}
			c, err := scp.NewClient(opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.ListImageMembers(context.Background(), testImageID); err != nil {
				t.Fatalf("ListImageMembers: %v", err)
			}
			r := rec.last(t)

			wantURL := srv.URL + "/scp/proxy/v1/images/" + testImageID + "/members"
			gotURL := "http://" + r.Host + r.RequestURI
			if gotURL != wantURL {
				t.Fatalf("request went to %s, want %s", gotURL, wantURL)
			}
			if !strings.Contains(r.Host, ":") {
				t.Fatalf("Host %q has no port", r.Host)
			}
			if r.Method != http.MethodGet {
				t.Errorf("method %s, want GET", r.Method)
			}

			want := map[string]string{
				"Scp-AccessKey":   testAccessKey,
				"Scp-Timestamp":   "1754000000123",
				"Scp-ClientType":  "Openapi",
				"Scp-AccountId":   tc.accountID,
				"Accept-Language": tc.wantLang,
				"Scp-Api-Version": tc.wantVersion,
			}
			for name, value := range want {
				values, ok := r.Header[http.CanonicalHeaderKey(name)]
				if !ok {
					t.Errorf("header %s missing", name)
					continue
				}
				if len(values) != 1 || values[0] != value {
					t.Errorf("header %s = %q, want [%q]", name, values, value)
				}
			}
			wantSig := scp.Sign(scp.SigningInput{
				Method:     "GET",
				URL:        wantURL,
				Timestamp:  "1754000000123",
				AccessKey:  testAccessKey,
				AccountID:  tc.accountID,
				ClientType: "Openapi",
			}, []byte(testSecretKey))
			if got := r.Header.Get("Scp-Signature"); got != wantSig {
				t.Errorf("Scp-Signature = %q, want %q (signed over %s)", got, wantSig, wantURL)
			}
			for name, values := range r.Header {
				for _, v := range values {
					if strings.Contains(v, testSecretKey) {
						t.Errorf("header %s carries the secret key", name)
					}
				}
			}
		})
	}
}

// The clock defaults to the real one: the timestamp is now, in milliseconds.
func TestRequestTimestampDefaultClock(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, err := scp.NewClient(scp.Options{BaseURL: srv.URL, AccessKey: testAccessKey, SecretKey: testSecretKey, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixMilli()
	if _, err := c.ListImageMembers(context.Background(), testImageID); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMilli()
	got := rec.last(t).Header.Get("Scp-Timestamp")
	var ms int64
	for _, ch := range got {
		if ch < '0' || ch > '9' {
			t.Fatalf("Scp-Timestamp %q is not decimal", got)
		}
		ms = ms*10 + int64(ch-'0')
	}
	if ms < before || ms > after {
		t.Fatalf("Scp-Timestamp %d outside [%d, %d]", ms, before, after)
	}
}
