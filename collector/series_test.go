package collector

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/scp-exporter/scp_exporter/internal/account"
	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/internal/serve/exposition"
	"github.com/scp-exporter/scp_exporter/scp"
)

// estateView is n fetched images of three members each: one expected and
// accepted, one expected and pending, one unexpected and accepted; each
// with a known visibility.
func estateView(n int) engine.View {
	t1 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	v := engine.View{Inventory: inventory.State{Visibility: map[string]string{}}}
	for i := range n {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		v.Images = append(v.Images, engine.ImageView{
			Image: engine.Image{ID: id, Name: "img", Expected: map[string]bool{acctExpected: true, acctOther: true},
				AllowedVisibility: map[string]bool{"shared": true}},
			Members: []scp.Member{
				{ID: acctExpected, Status: "accepted", CreatedAt: t1, UpdatedAt: t1},
				{ID: acctOther, Status: "pending", CreatedAt: t1, UpdatedAt: t1},
				{ID: acctThird, Status: "accepted", CreatedAt: t1, UpdatedAt: t1},
			},
			Known: true, Fetched: t1,
		})
		v.Inventory.Visibility[id] = "shared"
	}
	return v
}

// seriesPerImage counts each image's series by family.
func seriesPerImage(c *Collector) map[string]map[string]int {
	out := map[string]map[string]int{}
	c.write(valueFunc(func(d *exposition.Desc, _ float64, labels ...string) {
		i := slices.Index(d.Labels(), "image_id")
		if i < 0 {
			return
		}
		if out[labels[i]] == nil {
			out[labels[i]] = map[string]int{}
		}
		out[labels[i]][d.Name()]++
	}), c.Scrape(context.Background()))
	return out
}

// At defaults an image of three members, one pending, costs at most 10
// series, and everything the alerts need is there: each member named with
// whether it is expected, the pending share's time, the visibility.
func TestDefaultSeriesBudget(t *testing.T) {
	const images, budget = 1000, 10
	for _, tc := range []struct {
		series account.SeriesOptions
		want   map[string]int
	}{
		{account.SeriesOptions{}, map[string]int{
			"scp_image_info": 1, "scp_image_members_scrape_success": 1, "scp_image_visibility_unexpected": 1,
			"scp_image_members": 3, "scp_image_member_info": 3, "scp_image_member_updated_timestamp_seconds": 1,
		}},
		{account.SeriesOptions{MemberTimestamps: account.TimestampsNone}, map[string]int{
			"scp_image_info": 1, "scp_image_members_scrape_success": 1, "scp_image_visibility_unexpected": 1,
			"scp_image_members": 3, "scp_image_member_info": 3,
		}},
		{allSeries, map[string]int{
			"scp_image_info": 1, "scp_image_members_scrape_success": 1, "scp_image_visibility_unexpected": 1, "scp_image_visibility": 1,
			"scp_image_members": 3, "scp_image_member_info": 3,
			"scp_image_member_created_timestamp_seconds": 3, "scp_image_member_updated_timestamp_seconds": 3,
		}},
	} {
		scope := sourceScope(newStaticSource(estateView(images)))
		scope.Series = tc.series
		got := seriesPerImage(New(scope, log.NewNopLogger()))
		if len(got) != images {
			t.Fatalf("%+v: series for %d images, want %d", tc.series, len(got), images)
		}
		for id, fams := range got {
			total := 0
			for _, n := range fams {
				total += n
			}
			if tc.series == (account.SeriesOptions{}) && total > budget {
				t.Errorf("defaults: image %s has %d series, over the budget of %d: %v", id, total, budget, fams)
			}
			if fmt.Sprint(fams) != fmt.Sprint(tc.want) {
				t.Fatalf("%+v: image %s has %v, want %v", tc.series, id, fams, tc.want)
			}
		}
	}
}

// At defaults the pending share's time is its updated time, or its created
// time when the API gives no updated; an unexpected accepted share is still
// named in scp_image_member_info.
func TestDefaultSeriesKeepWhatAlertsNeed(t *testing.T) {
	created := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	view := estateView(1)
	view.Images[0].Members[1].UpdatedAt = time.Time{}
	c := New(Scope{Accounts: []Account{&testAccount{Source: newStaticSource(view)}}, ScrapeTimeout: time.Second}, log.NewNopLogger())
	var pendingAt []float64
	unexpected := false
	c.write(valueFunc(func(d *exposition.Desc, v float64, labels ...string) {
		switch d.Name() {
		case "scp_image_member_updated_timestamp_seconds":
			if labels[1] != acctOther {
				t.Errorf("timestamp for %s, which is not pending", labels[1])
			}
			pendingAt = append(pendingAt, v)
		case "scp_image_member_info":
			unexpected = unexpected || (labels[1] == acctThird && labels[3] == "false" && labels[2] == "accepted")
		}
	}), c.Scrape(context.Background()))
	if len(pendingAt) != 1 || pendingAt[0] != float64(created.Unix()) {
		t.Errorf("pending share's time %v, want its created time %d", pendingAt, created.Unix())
	}
	if !unexpected {
		t.Error("the unexpected accepted member is not in scp_image_member_info")
	}
}

// A max_members for every image costs one series per account, not one per
// image: scp_image_member_limit_default carries it, and only the images
// whose own limit differs from it (a higher one, a lower one, 0 for none)
// have a scp_image_member_limit. An override equal to the default is not
// one. Without a default, only the overrides are there.
func TestMemberLimitSeriesAreBounded(t *testing.T) {
	const images = 1000
	id := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
	overrides := map[string]int{id(3): 20, id(500): 1, id(999): 0}
	for _, multi := range []bool{false, true} {
		for _, def := range []int{5, 0} {
			perImage := map[string]int{id(7): def} // the same as the default: not an override
			maps.Copy(perImage, overrides)
			scope := Scope{ScrapeTimeout: 10 * time.Second, MultiAccount: multi}
			accounts := []string{""}
			if multi {
				accounts = []string{"prod", "dev"}
			}
			for _, name := range accounts {
				scope.Accounts = append(scope.Accounts, &testAccount{Name: name, Source: newStaticSource(estateView(images)),
					MaxMembers: account.MaxMembers{Default: def, PerImage: perImage}})
			}
			// Every limit series, as name{labels} value.
			var got []string
			c := New(scope, log.NewNopLogger())
			c.write(valueFunc(func(d *exposition.Desc, v float64, labels ...string) {
				if strings.HasPrefix(d.Name(), "scp_image_member_limit") {
					got = append(got, fmt.Sprintf("%s%v %v", d.Name(), labels, v))
				}
			}), c.Scrape(context.Background()))

			var want []string
			for _, name := range accounts {
				acct := []string{}
				if multi {
					acct = []string{name}
				}
				if def > 0 {
					want = append(want, fmt.Sprintf("scp_image_member_limit_default%v %d", acct, def))
				}
				for img, n := range overrides {
					if n != def {
						want = append(want, fmt.Sprintf("scp_image_member_limit%v %d", append(acct, img), n))
					}
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("multi=%v default=%d: %d limit series %v, want only %v", multi, def, len(got), got, want)
			}
		}
	}
}

// A visibility change the audit trail explains names its user too, and
// when members and visibility both changed, the later event wins.
func TestChangeInfoFromVisibilityAndMembers(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	view := estateView(2)
	a, b := view.Images[0].ID, view.Images[1].ID
	view.Inventory.VisibilityChanged = map[string]inventory.VisibilityChange{
		a: {Since: t0, At: t0.Add(time.Minute), From: "private", To: "public"},
		b: {Since: t0, At: t0.Add(time.Minute), From: "private", To: "public"},
	}
	// b's members changed later than its visibility.
	view.Images[1].ChangedSince, view.Images[1].ChangedAt = t0.Add(10*time.Minute), t0.Add(11*time.Minute)
	events := changesByWindow{
		a: {{EventName: "UpdateImage", UserID: "vis-user", Time: t0.Add(30 * time.Second)}},
		b: {
			{EventName: "UpdateImage", UserID: "vis-user", Time: t0.Add(30 * time.Second)},
			{EventName: "CreateImageMember", UserID: "member-user", Time: t0.Add(10*time.Minute + 30*time.Second)},
		},
	}
	scope := sourceScope(newStaticSource(view))
	testAccountOf(scope, 0).Changes = events
	got := map[string]string{}
	c := New(scope, log.NewNopLogger())
	c.write(valueFunc(func(d *exposition.Desc, _ float64, labels ...string) {
		if d.Name() == "scp_image_change_info" {
			got[labels[0]] = labels[1] + " " + labels[2]
		}
	}), c.Scrape(context.Background()))
	if got[a] != "UpdateImage vis-user" || got[b] != "CreateImageMember member-user" || len(got) != 2 {
		t.Errorf("change info %v, want a's visibility change and b's later member change", got)
	}
}

// changesByWindow explains a change with the latest of an image's events
// inside its window.
type changesByWindow map[string][]account.Change

func (c changesByWindow) Explain(id string, from, to time.Time) (account.Change, bool) {
	var best account.Change
	found := false
	for _, ch := range c[id] {
		if !ch.Time.Before(from) && !ch.Time.After(to) && (!found || ch.Time.After(best.Time)) {
			best, found = ch, true
		}
	}
	return best, found
}

// Label values that are free text from the API (an image's name, listed,
// offered or shared) go through the scope's redaction; the others (IDs,
// statuses, the account's name, which the config load checks) do not, so
// the redaction costs a scrape one call per name.
func TestFreeTextLabelsAreRedacted(t *testing.T) {
	const piece = "Qm8vT3xL"
	view := estateView(2)
	view.Images[1].Name = "build-" + piece + "-2"
	view.Inventory.Pending = []scp.PendingImage{{ID: "11111111-1111-4111-8111-111111111111", Name: piece, Owner: acctOther}}
	view.Inventory.Accepted = []scp.Image{{ID: "22222222-2222-4222-8222-222222222222", Name: "x" + piece, Owner: acctOther}}
	var redacted []string
	redact := func(s string) string {
		redacted = append(redacted, s)
		return strings.ReplaceAll(s, piece, "<secret>")
	}
	c := New(Scope{Accounts: []Account{&testAccount{Name: "prod", Source: newStaticSource(view)}}, MultiAccount: true,
		ScrapeTimeout: time.Second, Redact: redact}, log.NewNopLogger())
	names := map[string][]string{}
	c.write(valueFunc(func(d *exposition.Desc, _ float64, labels ...string) {
		for i, l := range labels {
			if strings.Contains(l, piece) {
				t.Errorf("%s: label %s is %q", d.Name(), d.Labels()[i], l)
			}
		}
		if i := slices.Index(d.Labels(), "name"); i >= 0 {
			names[d.Name()] = append(names[d.Name()], labels[i])
		}
	}), c.Scrape(context.Background()))
	want := map[string][]string{
		"scp_image_info":         {"img", "build-<secret>-2"},
		"scp_pending_image_info": {"<secret>"},
		"scp_shared_image_info":  {"x<secret>"},
	}
	for fam, w := range want {
		if !slices.Equal(names[fam], w) {
			t.Errorf("%s names %q, want %q", fam, names[fam], w)
		}
	}
	slices.Sort(redacted)
	if w := []string{piece, "build-" + piece + "-2", "img", "x" + piece}; !slices.Equal(redacted, w) {
		t.Errorf("redacted %q, want only the names %q", redacted, w)
	}
}
