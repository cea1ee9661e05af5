package dashboard

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
)

// series are an exporter's series in two accounts, and a second exporter (an
// HA pair mid-rollout) that names both images otherwise: golden (img1) in prod is
// shared with m1 (named "Team A" in prod's list), m2 (unexpected, so in no
// list) and m3 (in the list without a name); in dev, m1 has no name. prod is
// offered off1 by o1 ("Vendor") and has accepted acc1 from o2, who is in no
// list.
const series = `
load 1m
  scp_image_info{job="scp_exporter", instance="e:9", account="prod", image_id="img1", name="golden"} 1x10
  scp_image_info{job="scp_exporter", instance="e:9", account="dev", image_id="img2", name=""} 1x10
  scp_image_member_info{job="scp_exporter", instance="e:9", account="prod", image_id="img1", member_id="m1", status="accepted", expected="true"} 1x10
  scp_image_member_info{job="scp_exporter", instance="e:9", account="prod", image_id="img1", member_id="m2", status="pending", expected="false"} 1x10
  scp_image_member_info{job="scp_exporter", instance="e:9", account="prod", image_id="img1", member_id="m3", status="rejected", expected="true"} 1x10
  scp_image_member_info{job="scp_exporter", instance="e:9", account="dev", image_id="img2", member_id="m1", status="accepted", expected="true"} 1x10
  scp_expected_member_info{job="scp_exporter", instance="e:9", account="prod", member_id="m1", member_name="Team A"} 1x10
  scp_expected_member_info{job="scp_exporter", instance="e:9", account="prod", member_id="m3", member_name=""} 1x10
  scp_expected_member_info{job="scp_exporter", instance="e:9", account="prod", member_id="m9", member_name="Nobody shares"} 1x10
  scp_expected_member_info{job="scp_exporter", instance="e:9", account="dev", member_id="m1", member_name=""} 1x10
  scp_pending_image_info{job="scp_exporter", instance="e:9", account="prod", image_id="off1", name="", owner="o1", expected="true"} 1x10
  scp_shared_image_info{job="scp_exporter", instance="e:9", account="prod", image_id="acc1", name="base", owner="o2", expected="false"} 1x10
  scp_expected_image_owner_info{job="scp_exporter", instance="e:9", account="prod", owner="o1", owner_name="Vendor"} 1x10
  scp_api_rate_limit_requests_per_second{job="scp_exporter", instance="e:9", account="prod"} 10x10
  scp_api_rate_limit_requests_per_second{job="scp_exporter", instance="e:9", account="dev"} 10x10
  up{job="scp_exporter", instance="e:9"} 1x10
  scp_image_info{job="scp_exporter", instance="e:10", account="prod", image_id="img1", name="golden-v2"} 1x10
  scp_image_info{job="scp_exporter", instance="e:10", account="dev", image_id="img2", name="named-here"} 1x10
  up{job="scp_exporter", instance="e:10"} 1x10
  scp_exporter_build_info{job="scp_exporter", instance="e:9"} 1x10
  scp_exporter_build_info{job="scp_exporter", instance="e:10"} 1x10
  scp_api_rate_limit_requests_per_second{job="scp_exporter", instance="e:10", account="prod"} 10x10
`

// rows runs expr at 5m with the variables given (All, .*, for the others)
// and returns each row's labels as name=value, sorted, with its value.
func rows(t *testing.T, expr string, vars map[string]string) []string {
	t.Helper()
	var out []string
	for _, s := range instant(t, expr, vars) {
		out = append(out, s.Metric.String())
	}
	slices.Sort(out)
	return out
}

// values runs expr as rows does and returns each row's value, sorted.
func values(t *testing.T, expr string, vars map[string]string) []string {
	t.Helper()
	var out []string
	for _, s := range instant(t, expr, vars) {
		out = append(out, strconv.FormatFloat(s.F, 'g', -1, 64))
	}
	slices.Sort(out)
	return out
}

// instant runs expr at 5m on the series with the variables given (All,
// .*, for the others).
func instant(t *testing.T, expr string, vars map[string]string) promql.Vector {
	t.Helper()
	storage := promqltest.LoadedStorage(t, series)
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, promqltest.DefaultMaxSamplesPerQuery)
	for name, value := range vars {
		expr = strings.ReplaceAll(expr, "$"+name, value)
	}
	expr = allSelected.ReplaceAllString(grafana.Replace(expr), ".*")
	q, err := engine.NewInstantQuery(t.Context(), storage, nil, expr, time.Unix(300, 0))
	if err != nil {
		t.Fatalf("%v\n%s", err, expr)
	}
	defer q.Close()
	res := q.Exec(t.Context())
	if res.Err != nil {
		t.Fatalf("%v\n%s", res.Err, expr)
	}
	v, err := res.Vector()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// query returns the expr of the panel's query refID.
func query(t *testing.T, d dashboard, title, refID string) string {
	t.Helper()
	expr := ""
	walk(d.Panels, func(p panel) {
		for _, q := range p.Targets {
			if p.Title == title && q.RefID == refID {
				expr = q.Expr
			}
		}
	})
	if expr == "" {
		t.Fatalf("no panel %q query %s", title, refID)
	}
	return expr
}

// TestEveryShareNamesMembers: every share is a row, the member's name beside
// its ID where the account's list gives one, empty where it gives none or
// the member is in no list; the variables filter the rows.
func TestEveryShareNamesMembers(t *testing.T) {
	d := defaultDashboard(t)
	expr := query(t, d, "Every share", "A")
	all := []string{
		`{account="dev", expected="true", image_id="img2", member_id="m1", name="img2", status="accepted"}`,
		`{account="prod", expected="false", image_id="img1", member_id="m2", name="golden", status="pending"}`,
		`{account="prod", expected="true", image_id="img1", member_id="m1", member_name="Team A", name="golden", status="accepted"}`,
		`{account="prod", expected="true", image_id="img1", member_id="m3", name="golden", status="rejected"}`,
	}
	for _, c := range []struct {
		vars map[string]string
		want []string
	}{
		{nil, all},
		{map[string]string{"expected": "false"}, all[1:2]},
		{map[string]string{"member": "m1"}, []string{all[0], all[2]}},
		{map[string]string{"account": "prod", "image": "img1", "expected": "true"}, all[2:]},
		{map[string]string{"image": "(img1|img2)", "member": "(m2|m3)"}, []string{all[1], all[3]}},
	} {
		if got := oneName(rows(t, expr, c.vars)); !slices.Equal(got, c.want) {
			t.Errorf("with %v:\n got %q\nwant %q", c.vars, got, c.want)
		}
	}
}

// oneName writes the second exporter's names of the images as the first
// exporter's: which of the two a row shows is not defined, but it shows one.
func oneName(rows []string) []string {
	r := strings.NewReplacer(`name="golden-v2"`, `name="golden"`, `name="named-here"`, `name="img2"`)
	for i := range rows {
		rows[i] = r.Replace(rows[i])
	}
	return rows
}

// TestOffersNameOwners: offered and accepted images carry the owner's name
// where the expected-owners list gives one, and are listed without one.
func TestOffersNameOwners(t *testing.T) {
	d := defaultDashboard(t)
	if got, want := rows(t, query(t, d, "Images offered to us", "A"), nil), []string{
		`{account="prod", expected="true", image_id="off1", name="off1", owner="o1", owner_name="Vendor"}`,
	}; !slices.Equal(got, want) {
		t.Errorf("offered: got %q, want %q", got, want)
	}
	if got, want := rows(t, query(t, d, "Images accepted from other accounts", "A"), nil), []string{
		`{account="prod", expected="false", image_id="acc1", name="base", owner="o2"}`,
	}; !slices.Equal(got, want) {
		t.Errorf("accepted: got %q, want %q", got, want)
	}
}

// TestMemberVariableShowsNames: the member picker offers each shared
// account and each named one of the lists, by name where there is one.
func TestMemberVariableShowsNames(t *testing.T) {
	d := defaultDashboard(t)
	for _, v := range d.Templating.List {
		if v.Name != "member" {
			continue
		}
		q := strings.TrimSuffix(strings.TrimPrefix(v.Query, "query_result("), ")")
		want := []string{
			`{member_id="m1", member_name="Team A"}`,
			`{member_id="m2", member_name="m2"}`,
			`{member_id="m3", member_name="m3"}`,
			`{member_id="m9", member_name="Nobody shares"}`,
		}
		if got := rows(t, q, nil); !slices.Equal(got, want) {
			t.Errorf("member variable: got %q, want %q", got, want)
		}
		return
	}
	t.Fatal("no member variable")
}

// TestEveryQueryEvaluates: no query fails on an exporter's series (no
// many-to-many match, no bad function argument) with All selected.
func TestEveryQueryEvaluates(t *testing.T) {
	d := defaultDashboard(t)
	walk(d.Panels, func(p panel) {
		for _, q := range p.Targets {
			rows(t, q.Expr, nil)
		}
	})
	if got := rows(t, query(t, d, "Exporters up", "A"), map[string]string{"account": "dev"}); !slices.Equal(got, []string{`{instance="e:9"}`}) {
		t.Errorf("Exporters up: %q, want the exporter serving dev", got)
	}
}
