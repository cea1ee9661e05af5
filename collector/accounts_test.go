package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scp-exporter/scp_exporter/discovery"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// staticDiscovery is a DiscoverySource with a fixed state.
type staticDiscovery discovery.State

func (s staticDiscovery) Snapshot() discovery.State { return discovery.State(s) }

func TestDiscoveredImagesJoinTheStaticList(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA, scptest.Member{MemberID: acctOther, Status: "accepted"})
	fake.SetMembers(imgB, scptest.Member{MemberID: acctExpected, Status: "pending"})
	tg := target(client, Image{ID: imgA, Name: "static-name", Expected: map[string]bool{acctOther: true}})
	tg.Accounts[0].DefaultExpected = map[string]bool{acctExpected: true}
	tg.Accounts[0].Discover = true
	tg.Accounts[0].Discovery = staticDiscovery{
		Discovered: []scp.Image{{ID: imgA, Name: "api-name"}, {ID: imgB, Name: "discovered"}},
		Status:     discovery.Status{Images: 2, LastSuccess: time.Unix(1700000000, 0), Tried: true},
	}
	c := New(tg, log.NewNopLogger(), nil)
	want := `
# HELP scp_image_info Images this exporter watches, with their configured or discovered name; always 1.
# TYPE scp_image_info gauge
scp_image_info{image_id="` + imgA + `",name="static-name"} 1
scp_image_info{image_id="` + imgB + `",name="discovered"} 1
# HELP scp_image_member_info One series per account the image is shared with; expected is "true" when the account is in the image's or the top-level expected_members. Always 1.
# TYPE scp_image_member_info gauge
scp_image_member_info{expected="true",image_id="` + imgA + `",member_id="` + acctOther + `",status="accepted"} 1
scp_image_member_info{expected="true",image_id="` + imgB + `",member_id="` + acctExpected + `",status="pending"} 1
# HELP scp_discovery_images Images in the discovered list in use (the last good listing).
# TYPE scp_discovery_images gauge
scp_discovery_images 2
# HELP scp_discovery_last_success_timestamp_seconds When image discovery last listed the account's images successfully, in Unix seconds; 0 if it never has.
# TYPE scp_discovery_last_success_timestamp_seconds gauge
scp_discovery_last_success_timestamp_seconds 1.7e+09
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_image_info", "scp_image_member_info",
		"scp_discovery_images", "scp_discovery_last_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	if n := fake.Requests(imgA); n != 1 {
		t.Errorf("image in both lists fetched %d times, want 1", n)
	}
}

func TestSeveralAccountsCarryTheAccountLabel(t *testing.T) {
	fakeProd, prod := setup(t, scptest.Options{})
	fakeProd.SetMembers(imgA, scptest.Member{MemberID: acctOther, Status: "accepted"})
	_, staging := setup(t, scptest.Options{})
	// imgA is unknown in staging: the same image ID fails there only.
	v12, _ := scp.LookupAPIVersion("1.2")
	v13, _ := scp.LookupAPIVersion("1.3")
	tg := Target{
		MultiAccount:  true,
		ScrapeTimeout: 10 * time.Second,
		Accounts: []Account{
			{Name: "prod", Lister: prod, APIVersion: v13, MaxConcurrency: 2, Images: []Image{{ID: imgA}}},
			{Name: "staging", Lister: staging, APIVersion: v12, MaxConcurrency: 2, Images: []Image{{ID: imgA}},
				Discover: true, Discovery: staticDiscovery{Status: discovery.Status{Tried: true}}},
		},
	}
	c := New(tg, log.NewNopLogger(), nil)
	want := `
# HELP scp_image_members_scrape_success 1 when the image's members were fetched in this scrape, 0 when not.
# TYPE scp_image_members_scrape_success gauge
scp_image_members_scrape_success{account="prod",image_id="` + imgA + `"} 1
scp_image_members_scrape_success{account="staging",image_id="` + imgA + `"} 0
# HELP scp_image_member_info One series per account the image is shared with; expected is "true" when the account is in the image's or the top-level expected_members. Always 1.
# TYPE scp_image_member_info gauge
scp_image_member_info{account="prod",expected="false",image_id="` + imgA + `",member_id="` + acctOther + `",status="accepted"} 1
# HELP scp_api_version_info The SCP API version the exporter requests and its state in the API reference; always 1.
# TYPE scp_api_version_info gauge
scp_api_version_info{account="prod",service="virtualserver",state="current",version="1.3"} 1
scp_api_version_info{account="staging",service="virtualserver",state="supported",version="1.2"} 1
# HELP scp_discovery_last_success_timestamp_seconds When image discovery last listed the account's images successfully, in Unix seconds; 0 if it never has.
# TYPE scp_discovery_last_success_timestamp_seconds gauge
scp_discovery_last_success_timestamp_seconds{account="staging"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_image_members_scrape_success",
		"scp_image_member_info", "scp_api_version_info", "scp_discovery_last_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestVisibilityAndOfferedImages(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA)
	fake.SetMembers(imgB)
	fake.SetMembers(imgC)
	allowed := map[string]bool{"private": true, "shared": true}
	tg := target(client,
		Image{ID: imgA, AllowedVisibility: allowed},
		Image{ID: imgB, AllowedVisibility: map[string]bool{"public": true}}, // a deliberately public image
		Image{ID: imgC, AllowedVisibility: allowed},                         // visibility not known yet
	)
	tg.Accounts[0].ExpectedOwners = map[string]bool{acctExpected: true}
	tg.Accounts[0].Discovery = staticDiscovery{
		Visibility: map[string]string{imgA: "public", imgB: "public"},
		Pending: []scp.PendingImage{
			{ID: "11111111-1111-4111-8111-111111111111", Name: "vendor-base", Owner: acctExpected},
			{ID: "22222222-2222-4222-8222-222222222222", Name: "free-miner", Owner: acctThird},
			{ID: "22222222-2222-4222-8222-222222222222", Name: "free-miner", Owner: acctThird}, // listed twice
		},
		Status: discovery.Status{PendingLastSuccess: time.Unix(1700000000, 0), Tried: true},
	}
	c := New(tg, log.NewNopLogger(), nil)
	want := `
# HELP scp_image_visibility The image's visibility (private, shared, community, public) as last learned from the image list or the image itself, refreshed on the discovery interval; always 1.
# TYPE scp_image_visibility gauge
scp_image_visibility{image_id="` + imgA + `",visibility="public"} 1
scp_image_visibility{image_id="` + imgB + `",visibility="public"} 1
# HELP scp_image_visibility_unexpected 1 when the image's visibility is outside its allowed_visibility (community or public shares it with every account), 0 when allowed.
# TYPE scp_image_visibility_unexpected gauge
scp_image_visibility_unexpected{image_id="` + imgA + `",visibility="public"} 1
scp_image_visibility_unexpected{image_id="` + imgB + `",visibility="public"} 0
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
	want += `
# HELP scp_image_visibility_unknown_images Watched images whose visibility is not known (its look-up failed or has not run yet); no visibility alert can fire for them.
# TYPE scp_image_visibility_unknown_images gauge
scp_image_visibility_unknown_images 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_image_visibility", "scp_image_visibility_unexpected", "scp_image_visibility_unknown_images",
		"scp_pending_image_info", "scp_pending_images", "scp_pending_images_last_success_timestamp_seconds",
		"scp_discovery_images"); err != nil {
		t.Error(err)
	}
}
