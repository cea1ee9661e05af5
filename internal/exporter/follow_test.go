package exporter

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// scrape is the collector's /metrics answer in the text format.
func scrape(t *testing.T, e *Exporter) string {
	t.Helper()
	rec := httptest.NewRecorder()
	e.Collector().Handler(prometheus.NewRegistry(), 0, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// An audit event naming a watched image has it fetched at once, long before
// the sweep (an hour here) would, and the user who made the change is
// exported beside the share.
func TestAuditEventFetchesTheImageAndNamesTheUser(t *testing.T) {
	const images, stranger = 40, "ffee0011223344556677889900aabbcc"
	fake := newFake()
	var list strings.Builder
	ids := make([]string, images)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		fake.SetMembers(ids[i], scptest.Member{MemberID: member, Status: "accepted"})
		fmt.Fprintf(&list, "  - id: %s\n", ids[i])
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := "scp:\n  endpoint: " + srv.URL + "\n  audit_endpoint: " + srv.URL + "\n  access_key: ak\n  secret_key: sk\n" +
		"expected_members: [" + member + "]\nmembers:\n  refresh_interval: 1h\naudit:\n  enabled: true\n  poll_interval: 5s\nimages:\n" + list.String()
	e, _ := start(t, cfg, time.Now())
	testwait.For(t, func() bool { return fake.Stats().Calls["list_image_members"] >= images }, "the first pass")

	changed := ids[images/2]
	before := fake.Stats().Calls["list_image_members"]
	fake.SetMembers(changed, scptest.Member{MemberID: member, Status: "accepted"}, scptest.Member{MemberID: stranger, Status: "pending"})
	fake.AddAuditEvents(scptest.AuditEvent{ID: "ev-1", Timestamp: time.Now().UTC().Format(time.RFC3339), EventName: "CreateImageMember",
		ResourceID: changed, UserID: "user-42"})

	share := `scp_image_member_info{expected="false",image_id="` + changed + `",member_id="` + stranger + `",status="pending"} 1`
	who := `scp_image_change_info{event_name="CreateImageMember",image_id="` + changed + `",user_id="user-42"} 1`
	testwait.For(t, func() bool {
		body := scrape(t, e)
		return strings.Contains(body, share) && strings.Contains(body, who)
	}, "the new share and who made it")
	if calls := fake.Stats().Calls["list_image_members"] - before; calls > 3 {
		t.Errorf("%d members calls to find the change, want the changed image only (not a sweep)", calls)
	}
}

// A list file edit turns its account expected within one check, without a
// reload; a deleted file keeps the last good list and says so.
func TestListFileEditTakesEffectWithoutAReload(t *testing.T) {
	checkListsOften(t)
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "trusted.txt")
	write := func(content string, mtime time.Time) { t.Helper(); writeList(t, file, content, mtime) }
	write("# nobody yet\n", time.Now().Add(-time.Hour))
	path := filepath.Join(dir, "config.yml")
	cfg := baseConfig(srv.URL, "expected_members_file: "+file+"\n")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{ConfigFile: path, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector())
	info := func(expected string) string {
		return `scp_image_member_info{expected="` + expected + `",image_id="` + image + `",member_id="` + member + `",status="accepted"} 1`
	}
	testwait.For(t, func() bool { return strings.Contains(scrape(t, e), info("false")) }, "the member, not expected")

	write("# the build account\n"+member+"\n", time.Now())
	testwait.For(t, func() bool { return strings.Contains(scrape(t, e), info("true")) }, "the member expected after the edit")

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	gauge := func(name string) (float64, bool) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name && len(mf.GetMetric()) == 1 {
				return mf.GetMetric()[0].GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	testwait.For(t, func() bool { v, ok := gauge("scp_expected_list_file_last_read_successful"); return ok && v == 0 }, "the deleted file reported")
	if v, _ := gauge("scp_expected_list_file_entries"); v != 1 {
		t.Errorf("entries in use after the file was deleted: %v, want the last good list's 1", v)
	}
	if !strings.Contains(scrape(t, e), info("true")) {
		t.Error("the last good list was not kept after the file was deleted")
	}
}

// After Close nothing starts again: a reload (a SIGHUP during shutdown)
// fails and builds no account.
func TestReloadAfterCloseBuildsNothing(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, _ := start(t, baseConfig(srv.URL, ""), time.Now())
	e.Close()
	if err := e.Reload(); err == nil {
		t.Error("a reload after Close succeeded")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := len(e.accounts); n != 0 {
		t.Errorf("%d accounts running after Close and a reload", n)
	}
}

// An expected_image_owners_file edit turns an offering account expected
// without a reload, as expected_members_file does for members.
func TestOwnersFileEditTakesEffectWithoutAReload(t *testing.T) {
	checkListsOften(t)
	const offered, vendor = "11111111-1111-4111-8111-111111111111", "0123456789abcdef0123456789abcdef"
	fake := newFake()
	fake.SetPendingImages(scptest.Image{ID: offered, Name: "vendor-base", Owner: vendor})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "owners.txt")
	write := func(content string, mtime time.Time) { t.Helper(); writeList(t, file, content, mtime) }
	write("# nobody yet\n", time.Now().Add(-time.Hour))
	e, _ := start(t, baseConfig(srv.URL, "expected_image_owners_file: "+file+"\n"), time.Now())
	info := func(expected string) string {
		return `scp_pending_image_info{expected="` + expected + `",image_id="` + offered + `",name="vendor-base",owner="` + vendor + `"} 1`
	}
	testwait.For(t, func() bool { return strings.Contains(scrape(t, e), info("false")) }, "the offer, its owner not expected")
	write(vendor+"  # the vendor\n", time.Now())
	testwait.For(t, func() bool { return strings.Contains(scrape(t, e), info("true")) }, "the owner expected after the edit")
}

// An edit in place that keeps the file's size and modification time (and
// so its inode) takes effect within a check, as any edit does.
func TestListFileEditKeepingSizeAndTimeTakesEffect(t *testing.T) {
	checkListsOften(t)
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "trusted.txt")
	mtime := time.Now().Add(-time.Hour)
	other := strings.Repeat("0", len(member)) // another account, as long
	writeList(t, file, other+"\n", mtime)
	e, _ := start(t, baseConfig(srv.URL, "expected_members_file: "+file+"\n"), time.Now())
	info := func(expected string) string {
		return `scp_image_member_info{expected="` + expected + `",image_id="` + image + `",member_id="` + member + `",status="accepted"} 1`
	}
	testwait.For(t, func() bool { return strings.Contains(scrape(t, e), info("false")) }, "the member, not expected")
	writeList(t, file, member+"\n", mtime)
	testwait.For(t, func() bool { return strings.Contains(scrape(t, e), info("true")) }, "the member expected after the edit")
}

// A malformed list file at start is logged once (not again at a reload
// that finds it unchanged), its secret hidden, and the rest of the config
// runs.
func TestMalformedListFileIsLoggedOnceAndRedacted(t *testing.T) {
	fake := scptest.New(scptest.Options{AccessKey: "ak", SecretKey: "sk_pasted.here"})
	fake.SetMembers(image, scptest.Member{MemberID: member, Status: "accepted"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "trusted.txt")
	if err := os.WriteFile(file, []byte(member+"\nsk_pasted.here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(baseConfig(srv.URL, "expected_members_file: "+file+"\n"), "secret_key: sk\n", "secret_key: sk_pasted.here\n", 1)
	e, logs := start(t, cfg, time.Now())
	if err := fetchOne(t, e); err != nil {
		t.Fatalf("the image, beside the bad file: %v", err)
	}
	if err := e.Reload(); err != nil {
		t.Fatalf("a reload with the bad file: %v", err)
	}
	out := logs.String()
	if n := strings.Count(out, "list file cannot be used"); n != 1 {
		t.Errorf("the bad file logged %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "pasted") || !strings.Contains(out, "<secret>") {
		t.Errorf("the log shows the secret pasted into the list file:\n%s", out)
	}
}

// checkListsOften has list files checked every 20 ms for the test.
func checkListsOften(t *testing.T) {
	old := listFileInterval
	listFileInterval = 20 * time.Millisecond
	t.Cleanup(func() { listFileInterval = old })
}

// writeList writes a list file with the given modification time, set
// explicitly so that no edit hides in a coarse file system clock.
func writeList(t *testing.T, file, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// A share made, with its audit event, on an image the exporter watches but
// has not fetched yet is attributed at the image's first fetch: there is no
// change between two fetches to explain, but the members the first fetch
// shows appeared since the image has been watched.
func TestFirstFetchNamesTheUserOfAnEventSinceWatching(t *testing.T) {
	const stranger = "ffee0011223344556677889900aabbcc"
	fake := newFake()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/members") {
			select { // the first fetch waits until the share and its event are made
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := "scp:\n  endpoint: " + srv.URL + "\n  audit_endpoint: " + srv.URL + "\n  access_key: ak\n  secret_key: sk\n" +
		"members:\n  refresh_interval: 1h\naudit:\n  enabled: true\n  poll_interval: 5s\nimages:\n  - id: " + image + "\n"
	e, _ := start(t, cfg, time.Now())
	fake.SetMembers(image, scptest.Member{MemberID: member, Status: "accepted"}, scptest.Member{MemberID: stranger, Status: "pending"})
	fake.AddAuditEvents(scptest.AuditEvent{ID: "ev-first", Timestamp: time.Now().UTC().Format(time.RFC3339), EventName: "CreateImageMember",
		ResourceID: image, UserID: "user-7"})
	testwait.ForWithin(t, 15*time.Second, func() bool { return fake.Stats().Calls["list_audit_logs"] >= 2 }, "a poll that reads the event")
	close(release)

	share := `scp_image_member_info{expected="false",image_id="` + image + `",member_id="` + stranger + `",status="pending"} 1`
	who := `scp_image_change_info{event_name="CreateImageMember",image_id="` + image + `",user_id="user-7"} 1`
	testwait.For(t, func() bool {
		body := scrape(t, e)
		return strings.Contains(body, share) && strings.Contains(body, who)
	}, "the first fetch's share and who made it")
}

// An image created and shared, with its audit event, before the exporter
// watches it: the trail keeps the event, and when the image is watched (a
// reload here; discovery listing it does the same) its first fetch names
// the user.
func TestAnEventBeforeTheImageIsWatchedNamesTheUser(t *testing.T) {
	const (
		stranger = "ffee0011223344556677889900aabbcc"
		later    = "0b7e1f4c-9d2a-4e36-8c51-2f6a7d8e9b10"
	)
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := func(images ...string) string {
		return "scp:\n  endpoint: " + srv.URL + "\n  audit_endpoint: " + srv.URL + "\n  access_key: ak\n  secret_key: sk\n" +
			"members:\n  refresh_interval: 1h\naudit:\n  enabled: true\n  poll_interval: 5s\nimages:\n  - id: " + strings.Join(images, "\n  - id: ") + "\n"
	}
	e, _ := start(t, cfg(image), time.Now())
	fake.SetMembers(later, scptest.Member{MemberID: stranger, Status: "pending"})
	fake.AddAuditEvents(scptest.AuditEvent{ID: "ev-before", Timestamp: time.Now().UTC().Format(time.RFC3339), EventName: "CreateImageMember",
		ResourceID: later, UserID: "user-9"})
	testwait.ForWithin(t, 15*time.Second, func() bool { return fake.Stats().Calls["list_audit_logs"] >= 2 }, "a poll that reads the event")
	if err := os.WriteFile(e.opts.ConfigFile, []byte(cfg(image, later)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	who := `scp_image_change_info{event_name="CreateImageMember",image_id="` + later + `",user_id="user-9"} 1`
	testwait.For(t, func() bool { return strings.Contains(scrape(t, e), who) }, "who shared the image before it was watched")
}

// Against an audit service that lists 1.0 (past its date, refused) and 1.1
// (current), the trail works with no audit version configured, and the
// version metrics show both services.
func TestAuditTrailChoosesTheServicesCurrentVersion(t *testing.T) {
	fake := newFake()
	fake.RetireAuditVersions("1.0")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := "scp:\n  endpoint: " + srv.URL + "\n  audit_endpoint: " + srv.URL + "\n  access_key: ak\n  secret_key: sk\n" +
		"audit:\n  enabled: true\n  poll_interval: 5s\nimages:\n  - id: " + image + "\n"
	e, _ := start(t, cfg, time.Now())
	testwait.For(t, func() bool {
		return strings.Contains(scrape(t, e), `scp_api_version_info{service="loggingaudit",state="current",version="1.1"} 1`)
	}, "the audit service's version in use")
	body := scrape(t, e)
	for _, want := range []string{
		`scp_api_version_info{service="virtualserver",state="current",version="1.3"} 1`,
		`scp_api_version_offered{service="loggingaudit",version="1.1"} 1`,
		`scp_api_server_version_info{service="loggingaudit",status="deprecated",version="1.0"} 1`,
		`scp_api_request_errors_total{operation="list_audit_logs",reason="unsupported_version"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
	if !strings.Contains(body, "scp_audit_last_success_timestamp_seconds ") || strings.Contains(body, "scp_audit_last_success_timestamp_seconds 0\n") {
		t.Error("the trail was not read")
	}
}

// The expected accounts and the names given to them are exported, and
// follow a list file's edit within one check, without a reload, and a
// reload's config: the config's name wins over the file's.
func TestExpectedNamesFollowListFileEditsAndReloads(t *testing.T) {
	checkListsOften(t)
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	members, owners := filepath.Join(dir, "trusted.txt"), filepath.Join(dir, "owners.txt")
	writeList(t, members, "aaaa First name\nbbbb\n"+member+" File name\n", time.Now().Add(-time.Hour))
	writeList(t, owners, "oooo Vendor\n", time.Now().Add(-time.Hour))
	path := filepath.Join(dir, "config.yml")
	config := func(name string) {
		t.Helper()
		cfg := baseConfig(srv.URL, "expected_members:\n  - {id: "+member+", name: "+name+"}\n"+
			"expected_members_file: "+members+"\nexpected_image_owners_file: "+owners+"\n")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config("Config name")
	e, err := New(Options{ConfigFile: path, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	infos := func() string {
		var out []string
		for _, l := range strings.Split(scrape(t, e), "\n") {
			if strings.HasPrefix(l, "scp_expected_member_info{") || strings.HasPrefix(l, "scp_expected_image_owner_info{") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	want := func(what string, lines ...string) {
		t.Helper()
		w := strings.Join(lines, "\n")
		var got string
		if !testwait.Until(testwait.Timeout, func() bool { got = infos(); return got == w }) {
			t.Fatalf("%s:\n%s\nwant:\n%s", what, got, w)
		}
	}
	want("at start",
		`scp_expected_member_info{member_id="`+member+`",member_name="Config name"} 1`,
		`scp_expected_member_info{member_id="aaaa",member_name="First name"} 1`,
		`scp_expected_member_info{member_id="bbbb",member_name=""} 1`,
		`scp_expected_image_owner_info{owner="oooo",owner_name="Vendor"} 1`)

	writeList(t, members, "aaaa Renamed\ncccc Carol # new\n", time.Now())
	writeList(t, owners, "oooo\n", time.Now())
	want("after the edits",
		`scp_expected_member_info{member_id="`+member+`",member_name="Config name"} 1`,
		`scp_expected_member_info{member_id="aaaa",member_name="Renamed"} 1`,
		`scp_expected_member_info{member_id="cccc",member_name="Carol"} 1`,
		`scp_expected_image_owner_info{owner="oooo",owner_name=""} 1`)

	config("Reloaded name")
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	want("after the reload",
		`scp_expected_member_info{member_id="`+member+`",member_name="Reloaded name"} 1`,
		`scp_expected_member_info{member_id="aaaa",member_name="Renamed"} 1`,
		`scp_expected_member_info{member_id="cccc",member_name="Carol"} 1`,
		`scp_expected_image_owner_info{owner="oooo",owner_name=""} 1`)
}
