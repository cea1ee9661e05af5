package scptest_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	accessKey = "AK-fake-test"
	secretKey = "SK-fake-test-secret"
	imageID   = "70a599e0-31e7-49b7-b260-868f441e862b"
	memberID  = "a8f10467abfc4b87b64614ab36eb9ae4"
)

// signed builds a request the way the contract describes; mutate runs on the
// signing input and the request after the defaults are set, before signing.
type reqSpec struct {
	accessKey  string
	secret     string
	clientType string
	timestamp  string
	accountID  string
	version    string
	signedURL  string // the URL signed, when not the one requested
}

func newRequest(t *testing.T, url string, spec reqSpec) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	signed := url
	if spec.signedURL != "" {
		signed = spec.signedURL
	}
	req.Header.Set(scp.HeaderAccessKey, spec.accessKey)
	req.Header.Set(scp.HeaderTimestamp, spec.timestamp)
	req.Header.Set(scp.HeaderClientType, spec.clientType)
	req.Header.Set(scp.HeaderAccountID, spec.accountID)
	req.Header.Set(scp.HeaderAPIVersion, spec.version)
	req.Header.Set(scp.HeaderSignature, scp.Sign(scp.SigningInput{
		Method:     http.MethodGet,
		URL:        signed,
		Timestamp:  spec.timestamp,
		AccessKey:  spec.accessKey,
		AccountID:  spec.accountID,
		ClientType: spec.clientType,
	}, []byte(spec.secret)))
	return req
}

func goodSpec(now time.Time) reqSpec {
	return reqSpec{
		accessKey:  accessKey,
		secret:     secretKey,
		clientType: scp.ClientType,
		timestamp:  scp.Timestamp(now),
		version:    "virtualserver 1.3",
	}
}

func TestAuthentication(t *testing.T) {
	now := time.Date(2025, time.July, 22, 9, 0, 0, 0, time.UTC)
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey, MaxSkew: time.Minute, Now: func() time.Time { return now }})
	fake.SetMembers(imageID, scptest.Member{MemberID: memberID, Status: "pending"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	url := srv.URL + "/v1/images/" + imageID + "/members"

	tests := []struct {
		name   string
		mutate func(*reqSpec)
		want   int
		detail string
	}{
		{"valid", func(*reqSpec) {}, 200, ""},
		{"valid with an account id", func(s *reqSpec) { s.accountID = "acct-1" }, 200, ""},
		{"valid 59s old", func(s *reqSpec) { s.timestamp = scp.Timestamp(now.Add(-59 * time.Second)) }, 200, ""},
		{"valid with version 1.0", func(s *reqSpec) { s.version = "virtualserver 1.0" }, 200, ""},
		{"wrong signature", func(s *reqSpec) { s.secret = "not-the-secret" }, 401, "signature mismatch"},
		{"signed over another URL", func(s *reqSpec) { s.signedURL = srv.URL + "/v1/images/" + imageID + "/members?x=1" }, 401, "signature mismatch"},
		{"signed without the port", func(s *reqSpec) {
			s.signedURL = "http://127.0.0.1/v1/images/" + imageID + "/members"
		}, 401, "signature mismatch"},
		{"wrong access key", func(s *reqSpec) { s.accessKey = "AK-other" }, 401, "unknown access key"},
		{"no access key", func(s *reqSpec) { s.accessKey = "" }, 401, "unknown access key"},
		{"stale timestamp", func(s *reqSpec) { s.timestamp = scp.Timestamp(now.Add(-2 * time.Minute)) }, 401, "too far from the server clock"},
		{"future timestamp", func(s *reqSpec) { s.timestamp = scp.Timestamp(now.Add(2 * time.Minute)) }, 401, "too far from the server clock"},
		{"timestamp in seconds", func(s *reqSpec) { s.timestamp = "1753174800" }, 401, "too far from the server clock"},
		{"timestamp not a number", func(s *reqSpec) { s.timestamp = "now" }, 401, "not Unix milliseconds"},
		{"client type of the older API", func(s *reqSpec) { s.clientType = "OpenApi" }, 401, "Scp-ClientType must be Openapi"},
	}
	wantOK, wantFail := 0, 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := goodSpec(now)
			tc.mutate(&spec)
			resp, err := srv.Client().Do(newRequest(t, url, spec))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.want)
			}
			if tc.want == 200 {
				wantOK++
				var got struct {
					Members []scptest.Member `json:"members"`
				}
				if err := json.Unmarshal(body, &got); err != nil || len(got.Members) != 1 || got.Members[0].MemberID != memberID || got.Members[0].ImageID != imageID {
					t.Fatalf("body %s: %v", body, err)
				}
				return
			}
			wantFail++
			var eb struct {
				Errors []struct {
					Status int    `json:"status"`
					Code   string `json:"code"`
					Detail string `json:"detail"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(body, &eb); err != nil || len(eb.Errors) != 1 {
				t.Fatalf("error body %s: %v", body, err)
			}
			if e := eb.Errors[0]; e.Status != 401 || e.Code != "Unauthorized" || !strings.Contains(e.Detail, tc.detail) {
				t.Errorf("error body %+v, want detail containing %q", e, tc.detail)
			}
		})
	}
	if got := fake.TotalRequests(); got != wantOK {
		t.Errorf("TotalRequests = %d, want %d (only authenticated calls)", got, wantOK)
	}
	if got := fake.Requests(imageID); got != wantOK {
		t.Errorf("Requests(image) = %d, want %d", got, wantOK)
	}
	if got := fake.AuthFailures(); got != wantFail {
		t.Errorf("AuthFailures = %d, want %d", got, wantFail)
	}
}

// The fake and the scp client agree: a client request authenticates.
func TestFakeAcceptsClient(t *testing.T) {
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey})
	fake.SetMembers(imageID, scptest.Member{MemberID: memberID, Status: "accepted"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := scp.NewClient(scp.Options{BaseURL: srv.URL, AccessKey: accessKey, SecretKey: secretKey, AccountID: "acct", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ListImageMembers(t.Context(), imageID)
	if err != nil || len(got) != 1 || got[0].ID != memberID || got[0].Status != "accepted" {
		t.Fatalf("ListImageMembers = %+v, %v", got, err)
	}
	if fake.AuthFailures() != 0 || fake.Requests(imageID) != 1 {
		t.Fatalf("auth failures %d, requests %d", fake.AuthFailures(), fake.Requests(imageID))
	}
}

// get makes an authenticated members call and returns status and body.
func get(t *testing.T, srv *httptest.Server, id string) (int, string, http.Header) {
	t.Helper()
	resp, err := srv.Client().Do(newRequest(t, srv.URL+"/v1/images/"+id+"/members", goodSpec(time.Now())))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// membersOf parses a members answer body as the API documents it.
func membersOf(body string) ([]scptest.Member, error) {
	var got struct {
		Members []scptest.Member `json:"members"`
	}
	err := json.Unmarshal([]byte(body), &got)
	return got.Members, err
}

func TestFixturesAndFaults(t *testing.T) {
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey})
	srv := httptest.NewServer(fake)
	defer srv.Close()

	if status, body, _ := get(t, srv, imageID); status != 404 || !strings.Contains(body, `"NotFound"`) {
		t.Fatalf("unknown image: %d %s", status, body)
	}
	fake.SetMembers(imageID)
	if status, body, _ := get(t, srv, imageID); status != 200 || strings.TrimSpace(body) != `{"members":[]}` {
		t.Fatalf("image without members: %d %s", status, body)
	}

	fake.SetFault(imageID, scptest.Fault{Status: 503, RetryAfter: "2", Times: 2})
	for i := range 2 {
		status, body, h := get(t, srv, imageID)
		if status != 503 || h.Get("Retry-After") != "2" || !strings.Contains(body, "injected fault") {
			t.Fatalf("faulty call %d: %d %s %v", i, status, body, h)
		}
	}
	if status, _, _ := get(t, srv, imageID); status != 200 {
		t.Fatalf("the fault did not clear after Times calls: %d", status)
	}

	fake.SetFault(imageID, scptest.Fault{Status: 418, Body: "teapot"})
	if status, body, _ := get(t, srv, imageID); status != 418 || body != "teapot" {
		t.Fatalf("raw body fault: %d %q", status, body)
	}
	fake.SetFault(imageID, scptest.Fault{Body: "{not json"})
	if status, body, _ := get(t, srv, imageID); status != 200 || body != "{not json" {
		t.Fatalf("200 raw body fault: %d %q", status, body)
	}
	fake.SetFault(imageID, scptest.Fault{BodySize: 1000})
	status, body, _ := get(t, srv, imageID)
	if status != 200 || len(body) < 1000 {
		t.Fatalf("BodySize fault: %d, %d bytes", status, len(body))
	}
	members, err := membersOf(body)
	if err != nil || len(members) == 0 {
		t.Fatalf("BodySize body does not parse: %v", err)
	}
	for i, m := range members {
		if scp.ValidateMemberID(m.MemberID) != nil || m.Status != "pending" {
			t.Fatalf("BodySize body, member %d: %+v", i, m)
		}
	}
	fake.SetFault(imageID, scptest.Fault{})
	if status, _, _ := get(t, srv, imageID); status != 200 {
		t.Fatalf("a zero Fault did not clear: %d", status)
	}

	fake.RemoveImage(imageID)
	if status, _, _ := get(t, srv, imageID); status != 404 {
		t.Fatalf("removed image: %d", status)
	}
	if got := fake.Requests(imageID); got != 10 {
		t.Errorf("Requests = %d, want 10", got)
	}
}

func TestLoadFixtures(t *testing.T) {
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey})
	err := fake.Load(strings.NewReader(`{"images":{"` + imageID + `":[{"member_id":"` + memberID + `","status":"rejected"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	status, body, _ := get(t, srv, imageID)
	members, err := membersOf(body)
	if status != 200 || err != nil || len(members) != 1 || members[0].MemberID != memberID || members[0].Status != "rejected" {
		t.Fatalf("%d %s %v", status, body, err)
	}
	if err := fake.Load(strings.NewReader(`{"imagez":{}}`)); err == nil || !strings.Contains(err.Error(), "reading fixtures") {
		t.Fatalf("unknown field accepted: %v", err)
	}
}

// The throttle is a token bucket on the fake's clock: a burst of
// ThrottleBurst calls goes through, the next ones are answered 429 with
// Retry-After and an SCP error body, and each 1/ThrottleRate of time lets one
// more through. Every kind of call counts against it.
func TestThrottle(t *testing.T) {
	now := time.Date(2025, time.July, 22, 9, 0, 0, 0, time.UTC)
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey, ThrottleRate: 10, ThrottleBurst: 3,
		Now: func() time.Time { return now }})
	fake.SetMembers(imageID, scptest.Member{MemberID: memberID, Status: "accepted"})
	fake.AddImages(scptest.Image{ID: imageID, Name: "golden", Visibility: "private"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	call := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := srv.Client().Do(newRequest(t, srv.URL+path, goodSpec(now)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}
	members := "/v1/images/" + imageID + "/members"
	statuses := func(paths ...string) []int {
		t.Helper()
		var out []int
		for _, p := range paths {
			status, _, _ := call(p)
			out = append(out, status)
		}
		return out
	}

	if got := statuses(members, "/v1/images", "/v1/images/"+imageID); !slices.Equal(got, []int{200, 200, 200}) {
		t.Fatalf("the burst: %v, want three 200s", got)
	}
	status, body, h := call(members)
	if status != http.StatusTooManyRequests || h.Get("Retry-After") != scptest.RetryAfterThrottled {
		t.Fatalf("beyond the burst: %d, Retry-After %q", status, h.Get("Retry-After"))
	}
	var e struct {
		Errors []struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || len(e.Errors) != 1 || e.Errors[0].Status != 429 || e.Errors[0].Code == "" {
		t.Fatalf("429 body %q is not an SCP error (%v)", body, err)
	}
	if got := statuses("/v1/images", "/v1/pending-images"); !slices.Equal(got, []int{429, 429}) {
		t.Fatalf("other calls beyond the burst: %v, want 429s", got)
	}

	// 100 ms at 10 calls/s is one token; 250 ms more is two more, not three.
	now = now.Add(100 * time.Millisecond)
	if got := statuses(members, members); !slices.Equal(got, []int{200, 429}) {
		t.Fatalf("after 1/rate: %v, want 200 then 429", got)
	}
	now = now.Add(250 * time.Millisecond)
	if got := statuses(members, members, members); !slices.Equal(got, []int{200, 200, 429}) {
		t.Fatalf("after 2.5/rate: %v, want two 200s then 429", got)
	}
	// A quiet spell refills the bucket to the burst, no more.
	now = now.Add(time.Hour)
	if got := statuses(members, members, members, members); !slices.Equal(got, []int{200, 200, 200, 429}) {
		t.Fatalf("after a quiet spell: %v, want the burst of three, then 429", got)
	}

	st := fake.Stats()
	if fake.Throttled() != 6 || st.Throttled != 6 || fake.TotalRequests() != 15 || st.Total != 15 {
		t.Errorf("Throttled %d / %d, TotalRequests %d / %d; want 6 of 15", fake.Throttled(), st.Throttled, fake.TotalRequests(), st.Total)
	}
	wantCalls := map[string]int{"list_image_members": 11, "list_images": 2, "show_image": 1, "list_pending_images": 1}
	wantThrottled := map[string]int{"list_image_members": 4, "list_images": 1, "list_pending_images": 1}
	if !maps.Equal(st.Calls, wantCalls) || !maps.Equal(st.ThrottledCalls, wantThrottled) {
		t.Errorf("Stats calls %v, throttled %v; want %v, %v", st.Calls, st.ThrottledCalls, wantCalls, wantThrottled)
	}
	// Throttled calls count as calls received, but are not served: a fault
	// waits for a call that is.
	if got := fake.Requests(imageID); got != 11 {
		t.Errorf("Requests = %d, want 11", got)
	}
	fake.SetFault(imageID, scptest.Fault{Status: 503, Times: 1})
	if got := statuses(members); !slices.Equal(got, []int{429}) {
		t.Fatalf("with an empty bucket: %v, want 429", got)
	}
	now = now.Add(100 * time.Millisecond)
	if got := statuses(members, members); !slices.Equal(got, []int{503, 429}) {
		t.Fatalf("after 1/rate with a fault set: %v, want the fault's 503, then 429", got)
	}
}

// Without a throttle rate nothing is throttled, however many calls come at
// once; unauthenticated calls are refused before the throttle sees them.
func TestNoThrottleByDefault(t *testing.T) {
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey})
	fake.SetMembers(imageID)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for i := range 50 {
		if status, _, _ := get(t, srv, imageID); status != 200 {
			t.Fatalf("call %d: %d", i, status)
		}
	}
	if fake.Throttled() != 0 {
		t.Fatalf("Throttled = %d", fake.Throttled())
	}

	throttled := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey, ThrottleRate: 1e-9, ThrottleBurst: 1})
	throttled.SetMembers(imageID)
	srv2 := httptest.NewServer(throttled)
	defer srv2.Close()
	spec := goodSpec(time.Now())
	spec.secret = "wrong"
	resp, err := srv2.Client().Do(newRequest(t, srv2.URL+"/v1/images/"+imageID+"/members", spec))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", resp.StatusCode)
	}
	if status, _, _ := get(t, srv2, imageID); status != 200 {
		t.Fatalf("the refused call took the only token: %d", status)
	}
	if status, _, _ := get(t, srv2, imageID); status != http.StatusTooManyRequests {
		t.Fatalf("second call: %d", status)
	}
	if throttled.Throttled() != 1 || throttled.AuthFailures() != 1 {
		t.Fatalf("Throttled %d, AuthFailures %d", throttled.Throttled(), throttled.AuthFailures())
	}
}

// The scp client reads the throttle's answer as rate limiting: it retries
// after Retry-After, and tells the budget, which lowers its rate.
func TestThrottleSeenByClient(t *testing.T) {
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey, ThrottleRate: 1e-9, ThrottleBurst: 1})
	fake.SetMembers(imageID)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	budget := scp.NewBudget(100, 4, nil)
	c, err := scp.NewClient(scp.Options{BaseURL: srv.URL, AccessKey: accessKey, SecretKey: secretKey, HTTPClient: srv.Client(), Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListImageMembers(t.Context(), imageID); err != nil {
		t.Fatalf("first call: %v", err)
	}
	_, err = c.ListImageMembers(t.Context(), imageID)
	if scp.ReasonOf(err) != scp.ReasonRateLimited {
		t.Fatalf("throttled call: %v (reason %q), want rate_limited", err, scp.ReasonOf(err))
	}
	if r := budget.Rate(); r >= 100 {
		t.Fatalf("budget rate %.1f after a throttled call, want it lowered from 100", r)
	}
}

// A version the fake does not serve is refused with a 400 naming the
// version header; the version list and the catalog are served.
func TestVersionsAndCatalog(t *testing.T) {
	now := time.Now()
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey})
	fake.SetMembers(imageID, scptest.Member{MemberID: memberID, Status: "pending"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	get := func(url string, spec *reqSpec) (int, []byte) {
		t.Helper()
		var req *http.Request
		if spec == nil {
			req, _ = http.NewRequest(http.MethodGet, url, nil)
		} else {
			req = newRequest(t, url, *spec)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	members := srv.URL + "/v1/images/" + imageID + "/members"

	for version, want := range map[string]int{"virtualserver 9.9": 400, "virtualserver 1.0": 200, "": 200} {
		spec := goodSpec(now)
		spec.version = version
		code, body := get(members, &spec)
		if code != want {
			t.Errorf("version %q: %d %s, want %d", version, code, body, want)
		}
		if want == 400 && (!strings.Contains(string(body), `"code":"UnsupportedApiVersion"`) || !strings.Contains(string(body), "unsupported Scp-Api-Version: virtualserver 9.9")) {
			t.Errorf("version %q: body %s", version, body)
		}
	}
	fake.SetVersions(scptest.Version{ID: "v1.0", Status: "CURRENT"}, scptest.Version{ID: "v1.3", Status: "PLANNED"})
	spec := goodSpec(now) // 1.3: planned, not served yet
	if code, body := get(members, &spec); code != 400 {
		t.Errorf("planned version: %d %s", code, body)
	}

	// The version list needs no signature.
	code, body := get(srv.URL+"/", nil)
	var vl struct {
		Versions []struct {
			ID     string           `json:"id"`
			Status string           `json:"status"`
			Links  []map[string]any `json:"links"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(body, &vl); code != 200 || err != nil || len(vl.Versions) != 2 || vl.Versions[0].ID != "v1.0" || len(vl.Versions[0].Links) == 0 {
		t.Errorf("GET /: %d %s (%v)", code, body, err)
	}
	if fake.VersionListRequests() != 1 {
		t.Errorf("VersionListRequests = %d", fake.VersionListRequests())
	}

	// The catalog is signed, takes any version header, and names the fake by default.
	spec = goodSpec(now)
	spec.version = "iam 1.0"
	code, body = get(srv.URL+"/v1/endpoints", &spec)
	var cat struct {
		Endpoints []scptest.Endpoint `json:"endpoints"`
	}
	if err := json.Unmarshal(body, &cat); code != 200 || err != nil || len(cat.Endpoints) != 10 || cat.Endpoints[0].URL != srv.URL || cat.Endpoints[0].ServiceType != "scp-virtualserver" ||
		cat.Endpoints[5].URL != srv.URL || cat.Endpoints[5].ServiceType != scptest.AuditServiceType {
		t.Errorf("catalog: %d %s (%v)", code, body, err)
	}
	if code, _ := get(srv.URL+"/v1/endpoints", nil); code != 401 {
		t.Errorf("unsigned catalog call: %d, want 401", code)
	}
	fake.SetCatalog(scptest.Endpoint{Region: "kr-east1", ServiceType: "scp-compute", URL: "https://vs.example"})
	spec = goodSpec(now)
	if _, body = get(srv.URL+"/v1/endpoints", &spec); !strings.Contains(string(body), `"url":"https://vs.example"`) {
		t.Errorf("catalog: %s", body)
	}
	if fake.Requests(scptest.EndpointsKey) != 2 {
		t.Errorf("Requests(EndpointsKey) = %d, want 2", fake.Requests(scptest.EndpointsKey))
	}
}
