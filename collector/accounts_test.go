package collector

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testclock"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// Through the engine: images its discovery lists join the configured ones,
// with their listed name, the default expected members, and discovery's
// own series.
func TestDiscoveredImagesJoinTheStaticList(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA, scptest.Member{MemberID: acctOther, Status: "accepted"})
	fake.SetMembers(imgB, scptest.Member{MemberID: acctExpected, Status: "pending"})
	fake.AddImages(
		scptest.Image{ID: imgA, Name: "api-name", Visibility: "private"},
		scptest.Image{ID: imgB, Name: "discovered", Visibility: "shared"},
	)
	clk := testclock.New(time.Unix(1700000000, 0))
	o := engineOptions(client, engine.Image{ID: imgA, Name: "static-name", Expected: map[string]bool{acctOther: true}})
	o.Inventory.Discover = true
	o.DefaultExpected = map[string]bool{acctExpected: true}
	o.Now = clk.Now
	e := startEngine(t, o)
	testwait.For(t, func() bool {
		v := e.Snapshot()
		return len(v.Images) == 2 && !v.Inventory.Status.PendingLastSuccess.IsZero()
	}, "discovery's first round: the discovered image watched, visibility known")
	c := New(sourceScope(e), log.NewNopLogger())
	want := helpImageInfo + `
scp_image_info{image_id="` + imgA + `",name="static-name"} 1
scp_image_info{image_id="` + imgB + `",name="discovered"} 1
` + helpMemberInfo + `
scp_image_member_info{expected="true",image_id="` + imgA + `",member_id="` + acctOther + `",status="accepted"} 1
scp_image_member_info{expected="true",image_id="` + imgB + `",member_id="` + acctExpected + `",status="pending"} 1
# HELP scp_discovery_images Images in the discovered list in use (the last good listing).
# TYPE scp_discovery_images gauge
scp_discovery_images 2
# HELP scp_discovery_last_success_timestamp_seconds When image discovery last listed the account's images successfully, in Unix seconds; 0 if it never has.
# TYPE scp_discovery_last_success_timestamp_seconds gauge
scp_discovery_last_success_timestamp_seconds 1.7e+09
# HELP scp_image_visibility The image's visibility (private, shared, community, public) as last learned from the image list or the image itself, refreshed on the discovery interval; always 1. Only with --collector.image-visibility: scp_image_visibility_unexpected carries the same label.
# TYPE scp_image_visibility gauge
scp_image_visibility{image_id="` + imgA + `",visibility="private"} 1
scp_image_visibility{image_id="` + imgB + `",visibility="shared"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_image_info", "scp_image_member_info",
		"scp_discovery_images", "scp_discovery_last_success_timestamp_seconds", "scp_image_visibility"); err != nil {
		t.Error(err)
	}
	if n := fake.Requests(imgA); n != 1 {
		t.Errorf("image in both lists fetched %d times, want 1", n)
	}
}

func TestSeveralAccountsCarryTheAccountLabel(t *testing.T) {
	v12, _ := scp.LookupAPIVersion("1.2")
	v13, _ := scp.LookupAPIVersion("1.3")
	prod := newStaticSource(engine.View{
		Images: []engine.ImageView{{
			Image:   engine.Image{ID: imgA},
			Members: []scp.Member{{ID: acctOther, Status: "accepted"}}, Known: true,
		}},
		StalestAge: 30 * time.Second,
	})
	// The same image ID fails in staging only; its discovery has not
	// listed anything yet.
	staging := newStaticSource(engine.View{
		Images: []engine.ImageView{{
			Image: engine.Image{ID: imgA},
			Err:   &scp.APIError{StatusCode: 404, Reason: scp.ReasonNotFound}, Reason: scp.ReasonNotFound,
		}},
		Inventory:    inventory.State{Status: inventory.Status{Tried: true}, Discovering: true},
		StalestAge:   2 * time.Hour,
		PassDuration: 4 * time.Second, Passes: 1,
	})
	tg := Scope{
		MultiAccount:  true,
		ScrapeTimeout: 10 * time.Second,
		Accounts: []Account{
			&testAccount{Name: "prod", Source: prod, APIVersion: v13},
			&testAccount{Name: "staging", Source: staging, APIVersion: v12},
		},
	}
	c := New(tg, log.NewNopLogger())
	want := helpSuccess + `
scp_image_members_scrape_success{account="prod",image_id="` + imgA + `"} 1
scp_image_members_scrape_success{account="staging",image_id="` + imgA + `"} 0
` + helpError + `
scp_image_members_scrape_error{account="staging",image_id="` + imgA + `",reason="not_found"} 1
` + helpMemberInfo + `
scp_image_member_info{account="prod",expected="false",image_id="` + imgA + `",member_id="` + acctOther + `",status="accepted"} 1
` + helpVersionInfo + `
scp_api_version_info{account="prod",service="virtualserver",state="current",version="1.3"} 1
scp_api_version_info{account="staging",service="virtualserver",state="supported",version="1.2"} 1
# HELP scp_discovery_last_success_timestamp_seconds When image discovery last listed the account's images successfully, in Unix seconds; 0 if it never has.
# TYPE scp_discovery_last_success_timestamp_seconds gauge
scp_discovery_last_success_timestamp_seconds{account="staging"} 0
` + helpStalestAge + `
scp_image_members_stalest_age_seconds{account="prod"} 30
scp_image_members_stalest_age_seconds{account="staging"} 7200
` + helpPassDuration + `
scp_image_members_pass_duration_seconds{account="staging"} 4
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_image_members_scrape_success", "scp_image_members_scrape_error",
		"scp_image_member_info", "scp_api_version_info", "scp_discovery_last_success_timestamp_seconds",
		"scp_image_members_stalest_age_seconds", "scp_image_members_pass_duration_seconds"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	// Each collection above waited on every account's source once.
	if p, s := prod.waited(), staging.waited(); p != 2 || s != 2 {
		t.Errorf("two collections waited %d times on prod and %d on staging, want 2 each", p, s)
	}
}

// The request metrics of each account carry its account label, which the
// collector adds: a call made by prod's client counts for prod alone, and
// every account starts each operation × reason at 0.
func TestAccountMetricsCarryTheAccountLabel(t *testing.T) {
	prodRequests := scp.NewMetrics()
	fake, client := setupWith(t, scptest.Options{}, scp.Options{RequestTimeout: 5 * time.Second, Metrics: prodRequests})
	fake.SetMembers(imgA)
	if _, err := client.ListImageMembers(context.Background(), imgA); err != nil {
		t.Fatal(err)
	}
	c := New(Scope{
		MultiAccount:  true,
		ScrapeTimeout: 10 * time.Second,
		Accounts: []Account{
			&testAccount{Name: "prod", Source: newStaticSource(engine.View{}), Requests: prodRequests},
			&testAccount{Name: "staging", Source: newStaticSource(engine.View{}), Requests: scp.NewMetrics()},
		},
	}, log.NewNopLogger())
	want := `
# HELP scp_api_requests_total SCP API requests made, by operation and HTTP status code ("error" when no response came). Each retry attempt counts.
# TYPE scp_api_requests_total counter
scp_api_requests_total{account="prod",code="200",operation="list_image_members"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_api_requests_total"); err != nil {
		t.Error(err)
	}
	// Every account starts each operation × reason at 0.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var errorSeries []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() == "scp_api_request_errors_total" {
			errorSeries = mf.GetMetric()
		}
	}
	found := false
	for _, m := range errorSeries {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["account"] == "staging" && labels["operation"] == "list_images" && labels["reason"] == "timeout" {
			found = true
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("staging's list_images timeouts %v, want 0", v)
			}
		}
	}
	if !found {
		t.Error(`no scp_api_request_errors_total{account="staging",operation="list_images",reason="timeout"}`)
	}
	if want := 2 * len(scp.Operations) * len(scp.Reasons); len(errorSeries) != want {
		t.Errorf("%d error series, want %d", len(errorSeries), want)
	}
}

func TestVisibilityAndOfferedImages(t *testing.T) {
	allowed := map[string]bool{"private": true, "shared": true}
	src := newStaticSource(engine.View{
		Images: []engine.ImageView{
			{Image: engine.Image{ID: imgA, AllowedVisibility: allowed}, Known: true},
			{Image: engine.Image{ID: imgB, AllowedVisibility: map[string]bool{"public": true}}, Known: true}, // a deliberately public image
			// Visibility not known yet, and not fetched yet either: the
			// visibility series do not depend on the members.
			{Image: engine.Image{ID: imgC, AllowedVisibility: allowed}, Err: errors.New("not yet"), Reason: engine.ReasonNotFetchedYet},
		},
		Inventory: inventory.State{
			Visibility: map[string]string{imgA: "public", imgB: "public", imgC: ""},
			Pending: []scp.PendingImage{
				{ID: "11111111-1111-4111-8111-111111111111", Name: "vendor-base", Owner: acctExpected},
				{ID: "22222222-2222-4222-8222-222222222222", Name: "free-miner", Owner: acctThird},
			},
			Status: inventory.Status{PendingLastSuccess: time.Unix(1700000000, 0), Tried: true},
		},
	})
	tg := sourceScope(src)
	testAccountOf(tg, 0).ExpectedOwners = map[string]bool{acctExpected: true}
	c := New(tg, log.NewNopLogger())
	want := `
# HELP scp_image_visibility The image's visibility (private, shared, community, public) as last learned from the image list or the image itself, refreshed on the discovery interval; always 1. Only with --collector.image-visibility: scp_image_visibility_unexpected carries the same label.
# TYPE scp_image_visibility gauge
scp_image_visibility{image_id="` + imgA + `",visibility="public"} 1
scp_image_visibility{image_id="` + imgB + `",visibility="public"} 1
# HELP scp_image_visibility_unexpected 1 when the image's visibility (the label, as last learned, refreshed on the discovery interval) is outside its allowed_visibility (community or public shares it with every account), 0 when allowed.
# TYPE scp_image_visibility_unexpected gauge
scp_image_visibility_unexpected{image_id="` + imgA + `",visibility="public"} 1
scp_image_visibility_unexpected{image_id="` + imgB + `",visibility="public"} 0
# HELP scp_image_visibility_unknown_images Watched images whose visibility is not known (its look-up failed or has not run yet); no visibility alert can fire for them.
# TYPE scp_image_visibility_unknown_images gauge
scp_image_visibility_unknown_images 1
# HELP scp_pending_image_info Images other accounts offer to this one, awaiting an answer; expected is "true" when the owner is in expected_image_owners. Always 1.
# TYPE scp_pending_image_info gauge
scp_pending_image_info{expected="false",image_id="22222222-2222-4222-8222-222222222222",name="free-miner",owner="` + acctThird + `"} 1
scp_pending_image_info{expected="true",image_id="11111111-1111-4111-8111-111111111111",name="vendor-base",owner="` + acctExpected + `"} 1
# HELP scp_pending_images Images other accounts offer to this one, awaiting an answer, as last listed.
# TYPE scp_pending_images gauge
scp_pending_images 2
# HELP scp_pending_images_last_success_timestamp_seconds When the images offered to this account were last listed successfully, in Unix seconds; 0 if never.
# TYPE scp_pending_images_last_success_timestamp_seconds gauge
scp_pending_images_last_success_timestamp_seconds 1.7e+09
`
	// Without discovery enabled, no discovery series.
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_image_visibility", "scp_image_visibility_unexpected", "scp_image_visibility_unknown_images",
		"scp_pending_image_info", "scp_pending_images", "scp_pending_images_last_success_timestamp_seconds",
		"scp_discovery_images", "scp_discovery_last_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}

	// Before the offers were ever listed: the timestamp is 0, and no count
	// or offer is reported.
	src.set(engine.View{Images: src.Snapshot().Images})
	want = `
# HELP scp_pending_images_last_success_timestamp_seconds When the images offered to this account were last listed successfully, in Unix seconds; 0 if never.
# TYPE scp_pending_images_last_success_timestamp_seconds gauge
scp_pending_images_last_success_timestamp_seconds 0
# HELP scp_image_visibility_unknown_images Watched images whose visibility is not known (its look-up failed or has not run yet); no visibility alert can fire for them.
# TYPE scp_image_visibility_unknown_images gauge
scp_image_visibility_unknown_images 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_pending_image_info", "scp_pending_images",
		"scp_pending_images_last_success_timestamp_seconds", "scp_image_visibility_unknown_images", "scp_image_visibility"); err != nil {
		t.Error(err)
	}
}
