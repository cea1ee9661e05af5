package account_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/scp-exporter/scp_exporter/internal/account"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// stored is a fake API and a storage directory that runtimes of one
// account start from, one after the other, as restarts do.
type stored struct {
	fake    *scptest.Fake
	url     string
	dir     string
	storage account.Storage
}

func newStored(t *testing.T) *stored {
	t.Helper()
	fake := scptest.New(scptest.Options{AccessKey: "ak", SecretKey: "sk"})
	fake.SetMembers(image, scptest.Member{MemberID: member, Status: "accepted"}, scptest.Member{MemberID: trusted, Status: "pending"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	return &stored{fake: fake, url: srv.URL, dir: dir, storage: account.Storage{Dir: filepath.Join(dir, "data"), Interval: time.Hour}}
}

// run starts a runtime of account "a" with extra YAML, on the stored
// state; logs, when set, takes its log lines.
func (s *stored) run(t *testing.T, extra string, logs *testproc.Buffer) *account.Runtime {
	t.Helper()
	o := account.Options{Storage: s.storage}
	if logs != nil {
		o.Logger = log.NewLogfmtLogger(logs)
	}
	return start(t, settings(t, s.dir, "accounts:\n"+accountYAML("a", s.url, extra))[0], o)
}

// A restart serves the last known members at once, with when they were
// fetched (their true age), before any call: the state written when the
// runtime stopped.
func TestRestartServesTheSavedMembersAtOnce(t *testing.T) {
	s := newStored(t)
	first := s.run(t, "", nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	first.Wait(ctx) // on demand: a scrape's pass fetches the image
	cancel()
	before := first.Snapshot().Members.Images[0]
	if !before.Known {
		t.Fatalf("the first runtime did not fetch the image: %+v", before)
	}
	first.Stop()
	calls := s.fake.Requests(image)

	second := s.run(t, "", nil)
	snap := second.Snapshot()
	got := snap.Members.Images[0]
	if !got.Known || !got.Fetched.Equal(before.Fetched) || len(got.Members) != 2 {
		t.Errorf("after the restart: %+v; want the saved members, fetched at %v", got, before.Fetched)
	}
	if n := s.fake.Requests(image) - calls; n != 0 {
		t.Errorf("%d members calls before any scrape, want none: the saved members are served", n)
	}
	if snap.Storage == nil || snap.Storage.Restored != account.RestoreRestored {
		t.Errorf("storage status %+v, want restored", snap.Storage)
	}
}

// A missing, corrupt, foreign or older-format file: the runtime starts
// fresh, says so once (a warning but for a missing file), and serves.
func TestUnusableStateStartsFresh(t *testing.T) {
	for name, tc := range map[string]struct {
		write func(t *testing.T, s *stored, path string)
		want  account.RestoreResult
	}{
		"missing": {func(*testing.T, *stored, string) {}, account.RestoreMissing},
		"corrupt": {func(t *testing.T, _ *stored, path string) {
			if err := os.WriteFile(path, []byte("not gzip at all"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, account.RestoreCorrupt},
		"truncated": {func(t *testing.T, _ *stored, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b[:len(b)/2], 0o600); err != nil {
				t.Fatal(err)
			}
		}, account.RestoreCorrupt},
		"foreign": {func(t *testing.T, s *stored, _ string) {
			// Another access key, the same name and endpoint.
			o := account.Options{Storage: s.storage}
			r, err := account.New(settings(t, s.dir, "accounts:\n  - name: a\n    scp: {endpoint: \""+s.url+"\", access_key: other, secret_key: sk}\n    images: [{id: "+image+"}]\n")[0], o)
			if err != nil {
				t.Fatal(err)
			}
			r.Start()
			r.Stop()
		}, account.RestoreForeign},
		"directory": {func(t *testing.T, _ *stored, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, account.RestoreCorrupt},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStored(t)
			path := filepath.Join(s.storage.Dir, "account-a.json.gz")
			if name != "missing" {
				first := s.run(t, "", nil)
				first.Stop()
			}
			tc.write(t, s, path)
			logs := &testproc.Buffer{}
			r := s.run(t, "", logs)
			snap := r.Snapshot()
			if snap.Storage == nil || snap.Storage.Restored != tc.want {
				t.Errorf("storage status %+v, want %s", snap.Storage, tc.want)
			}
			if got := snap.Members.Images[0]; got.Known {
				t.Errorf("members known after an unusable state: %+v", got)
			}
			warnings := strings.Count(logs.String(), "level=warn")
			if want := map[bool]int{true: 0, false: 1}[tc.want == account.RestoreMissing]; warnings != want {
				t.Errorf("%d warnings, want %d:\n%s", warnings, want, logs)
			}
			checkServes(t, r, "after an unusable state")
		})
	}
}

// An image no longer configured is not resurrected by the saved state.
func TestRestoreDropsImagesNoLongerWatched(t *testing.T) {
	s := newStored(t)
	const other = "0b7e1f4c-9d2a-4e36-8c51-2f6a7d8e9b10"
	s.fake.SetMembers(other, scptest.Member{MemberID: member, Status: "accepted"})
	o := account.Options{Storage: s.storage}
	first, err := account.New(settings(t, s.dir, "accounts:\n  - name: a\n    scp: {endpoint: \""+s.url+"\", access_key: ak, secret_key: sk}\n    images: [{id: "+image+"}, {id: "+other+"}]\n")[0], o)
	if err != nil {
		t.Fatal(err)
	}
	first.Start()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	first.Wait(ctx)
	cancel()
	first.Stop()
	second := s.run(t, "", nil) // only image
	var ids []string
	for _, im := range second.Snapshot().Members.Images {
		ids = append(ids, im.ID)
	}
	if !slices.Equal(ids, []string{image}) {
		t.Errorf("watched after the restart %v, want only %s", ids, image)
	}
}

// With scp.account_id set, a rotated access key keeps the state: the file
// is the account's, whatever key reads it.
func TestRotatedAccessKeyKeepsTheState(t *testing.T) {
	s := newStored(t)
	doc := func(key string) string {
		return "accounts:\n  - name: a\n    scp: {endpoint: \"" + s.url + "\", access_key: " + key + ", secret_key: sk, account_id: 0123456789abcdef0123456789abcdef}\n    images: [{id: " + image + "}]\n"
	}
	first, err := account.New(settings(t, s.dir, doc("ak"))[0], account.Options{Storage: s.storage})
	if err != nil {
		t.Fatal(err)
	}
	first.Start()
	first.Stop()
	second, err := account.New(settings(t, s.dir, doc("rotated"))[0], account.Options{Storage: s.storage})
	if err != nil {
		t.Fatal(err)
	}
	second.Start()
	defer second.Stop()
	if st := second.Snapshot().Storage; st == nil || st.Restored != account.RestoreRestored {
		t.Errorf("after a key rotation: %+v, want restored", st)
	}
}

// A storage directory that cannot be written: the runtime serves on, each
// failed write is counted, and only the first is a warning (not one a
// minute for as long as the disk is read-only).
func TestUnwritableStorageWarnsOnce(t *testing.T) {
	s := newStored(t)
	blocker := filepath.Join(s.dir, "not-a-dir")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.storage = account.Storage{Dir: filepath.Join(blocker, "data"), Interval: 10 * time.Millisecond}
	logs := &testproc.Buffer{}
	r := s.run(t, "", logs)
	testwait.For(t, func() bool { return r.Snapshot().Storage.WriteFailures >= 3 }, "three failed writes")
	var lines, warnings int
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(line, "cannot write the state") {
			lines++
			if strings.Contains(line, "level=warn") {
				warnings++
			}
		}
	}
	if lines < 3 || warnings != 1 {
		t.Errorf("%d lines about the failed writes, %d of them warnings; want each logged, one warning:\n%s", lines, warnings, logs)
	}
	checkServes(t, r, "with its storage unwritable")
}

// checkServes: a scrape's wait on r returns with its first image's members
// known, whatever became of the storage.
func checkServes(t *testing.T, r *account.Runtime, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	r.Wait(ctx)
	cancel()
	if got := r.Snapshot().Members.Images[0]; !got.Known {
		t.Errorf("the runtime does not serve %s: %+v", when, got)
	}
}
