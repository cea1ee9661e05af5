package scp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

func imageID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func TestListImagesPagesUntilAShortPage(t *testing.T) {
	var mu sync.Mutex
	var queries []url.Values
	e := newEnv(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			queries = append(queries, r.URL.Query())
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	}, nil)
	const n = 2500
	for i := range n {
		vis := "private"
		if i%5 == 0 {
			vis = "public"
		}
		e.fake.AddImages(scptest.Image{ID: imageID(i), Name: fmt.Sprintf("img-%d", i), Visibility: vis, Owner: "me"})
	}

	all, err := e.client.ListImages(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("listed %d images, want %d", len(all), n)
	}
	for i, im := range all {
		if im.ID != imageID(i) || im.Name != fmt.Sprintf("img-%d", i) || im.Owner != "me" {
			t.Fatalf("image %d is %+v", i, im)
		}
	}
	if len(queries) != 3 {
		t.Fatalf("%d requests, want 3 pages of 1000", len(queries))
	}
	for i, q := range queries {
		if q.Get("limit") != "1000" {
			t.Errorf("page %d: limit %q", i, q.Get("limit"))
		}
	}
	if queries[0].Has("marker") || queries[1].Get("marker") != imageID(999) || queries[2].Get("marker") != imageID(1999) {
		t.Errorf("markers: %q %q %q", queries[0].Get("marker"), queries[1].Get("marker"), queries[2].Get("marker"))
	}

	private, err := e.client.ListImages(context.Background(), "private")
	if err != nil {
		t.Fatal(err)
	}
	if len(private) != n-n/5 {
		t.Errorf("listed %d private images, want %d", len(private), n-n/5)
	}
	if got := queries[len(queries)-1].Get("visibility"); got != "private" {
		t.Errorf("visibility query %q", got)
	}
	if e.fake.AuthFailures() != 0 {
		t.Error("signatures over URLs with a query did not verify")
	}
}

func TestListImagesExactMultipleOfThePageSize(t *testing.T) {
	e := newEnv(t, nil, nil)
	for i := range 1000 {
		e.fake.AddImages(scptest.Image{ID: imageID(i), Visibility: "private"})
	}
	all, err := e.client.ListImages(context.Background(), "")
	if err != nil || len(all) != 1000 {
		t.Fatalf("listed %d, err %v; want 1000 (a full page, then an empty one)", len(all), err)
	}
}

func TestListImagesMalformedAnswers(t *testing.T) {
	full := make([]string, 1000)
	for i := range full {
		full[i] = fmt.Sprintf(`{"id":"%s","name":"x"}`, imageID(1))
	}
	for _, tc := range []struct{ name, body, want string }{
		{"no images field", `{"members":[]}`, `no "images" list`},
		{"images not a list", `{"images":{"id":"x"}}`, `"images" is not a list`},
		{"a full page of unreadable ids", `{"images":[` + strings.Repeat(`{"id":"bad"},`, 999) + `{"id":"bad"}]}`, "without one readable image"},
		{"html", `<html>`, "parsing JSON body"},
		{"marker does not advance", `{"images":[` + strings.Join(full, ",") + `]}`, "paging did not advance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			calls := 0
			e := newEnv(t, func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					calls++
					if calls > 5 {
						http.Error(w, "too many calls", http.StatusTeapot)
						return
					}
					w.Write([]byte(tc.body))
				})
			}, func(o *scp.Options) { o.Metrics = registeredMetrics(reg) })
			_, err := e.client.ListImages(context.Background(), "")
			var dec *scp.DecodeError
			if !errors.As(err, &dec) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want a decode error containing %q", err, tc.want)
			}
			if got, _ := seriesValue(t, reg, "scp_api_request_errors_total", map[string]string{"operation": "list_images", "reason": "decode"}); got != 1 {
				t.Errorf("decode errors counted %v, want 1", got)
			}
		})
	}
}

// seriesValue returns the value of the counter series of name whose labels
// include want, and how many series the family has.
func seriesValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (value float64, series int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		series = len(mf.GetMetric())
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
					continue metrics
				}
			}
			value, found = m.GetCounter().GetValue(), true
		}
	}
	if !found {
		t.Fatalf("no %s%v", name, want)
	}
	return value, series
}

// An offer the API lists twice is one offer: two series with the same
// labels would fail a whole scrape.
func TestListPendingImagesListsEachOfferOnce(t *testing.T) {
	e := newEnv(t, nil, nil)
	offer := scptest.Image{ID: imageID(1), Name: "free-miner", Owner: "ffee0011223344556677889900aabbcc"}
	e.fake.SetPendingImages(offer, scptest.Image{ID: imageID(2), Name: "vendor-base", Owner: "0123456789abcdef0123456789abcdef"}, offer)
	got, err := e.client.ListPendingImages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != imageID(1) || got[1].ID != imageID(2) {
		t.Errorf("offers %+v, want each of the two once", got)
	}
}

// A member the API lists twice counts once, as it was last listed.
func TestListImageMembersListsEachMemberOnce(t *testing.T) {
	e := newEnv(t, nil, nil)
	const id = "70a599e0-31e7-49b7-b260-868f441e862b"
	e.fake.SetMembers(id,
		scptest.Member{MemberID: "a8f10467abfc4b87b64614ab36eb9ae4", Status: "pending"},
		scptest.Member{MemberID: "3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f", Status: "accepted"},
		scptest.Member{MemberID: "a8f10467abfc4b87b64614ab36eb9ae4", Status: "accepted"})
	got, err := e.client.ListImageMembers(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "a8f10467abfc4b87b64614ab36eb9ae4" || got[0].Status != "accepted" {
		t.Errorf("members %+v, want the repeated one once, as last listed", got)
	}
}
