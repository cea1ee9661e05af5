package e2e

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

func post(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// reload POSTs /-/reload and returns the answer; a 429 (a reload started
// less than a second ago) is asked again until the exporter takes it.
func reload(t *testing.T, exp *exporterProcess) (int, string) {
	t.Helper()
	var code int
	var msg string
	if !testwait.Until(5*time.Second, func() bool {
		code, msg = post(t, exp.URL+"/-/reload")
		return code != http.StatusTooManyRequests
	}) {
		t.Fatalf("POST /-/reload still answered 429 after 5 s: %s", msg)
	}
	return code, msg
}

func hasImage(body, id string) bool {
	return strings.Contains(body, `scp_image_members_scrape_success{image_id="`+id+`"} 1`)
}

// TestReloadGoodBrokenGood walks a running exporter through a good config, a
// broken one (kept out, visible in metrics) and a good one again, over POST
// /-/reload and SIGHUP, with secret_key_file re-read on reload.
func TestReloadGoodBrokenGood(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA, scptest.Member{MemberID: memberOK, Status: "accepted"})
	fake.SetMembers(imageB, scptest.Member{MemberID: memberOdd, Status: "pending"})
	dir := t.TempDir()
	writeFile(t, dir, "secret", "not-the-right-secret\n")
	base := "scp:\n  endpoint: " + url + "\n  access_key: " + testAccessKey + "\n  secret_key_file: secret\n"
	cfgPath := writeFile(t, dir, "config.yml", base+"images:\n  - id: "+imageA+"\n")
	exp := startExporter(t, cfgPath, "--web.enable-lifecycle")

	// The key in the file is wrong: the API refuses the signature.
	_, body := httpGet(t, exp.URL+"/metrics")
	if !strings.Contains(body, `scp_image_members_scrape_error{image_id="`+imageA+`",reason="unauthorized"} 1`) {
		t.Fatalf("with a wrong secret the image should fail as unauthorized:\n%s", grepSCP(body))
	}

	// Fix the secret file and add image B: a reload picks up both.
	writeFile(t, dir, "secret", testSecretKey+"\n")
	writeFile(t, dir, "config.yml", base+"images:\n  - id: "+imageA+"\n  - id: "+imageB+"\n")
	if code, msg := reload(t, exp); code != http.StatusOK {
		t.Fatalf("reload of a good config: %d %s", code, msg)
	}
	_, body = httpGet(t, exp.URL+"/metrics")
	if !hasImage(body, imageA) || !hasImage(body, imageB) {
		t.Fatalf("after reload both images should be fetched:\n%s", grepSCP(body))
	}

	// Other methods are refused.
	if code, _ := httpGet(t, exp.URL+"/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload answered %d, want 405", code)
	}

	// A broken config is refused with the reason; the running one stays.
	writeFile(t, dir, "config.yml", base+"imagez:\n  - id: "+imageA+"\n")
	code, msg := reload(t, exp)
	if code != http.StatusInternalServerError || !strings.Contains(msg, "imagez: unknown field") {
		t.Errorf("reload of a broken config: %d %q, want 500 naming the unknown field", code, msg)
	}
	_, body = httpGet(t, exp.URL+"/metrics")
	if !strings.Contains(body, "scp_exporter_config_last_reload_successful 0") {
		t.Errorf("a failed reload must show scp_exporter_config_last_reload_successful 0")
	}
	if !hasImage(body, imageA) || !hasImage(body, imageB) {
		t.Errorf("a failed reload must keep the running config:\n%s", grepSCP(body))
	}

	// Good again, through SIGHUP this time: image A is dropped.
	writeFile(t, dir, "config.yml", base+"images:\n  - id: "+imageB+"\n")
	if err := exp.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !testwait.Until(10*time.Second, func() bool {
		_, body = httpGet(t, exp.URL+"/metrics")
		return strings.Contains(body, "scp_exporter_config_last_reload_successful 1")
	}) {
		t.Fatalf("SIGHUP did not reload the config:\n%s", grepSCP(body))
	}
	// The reload may have landed between the collection and the reload
	// gauge of that scrape; the next scrape is wholly after it.
	_, body = httpGet(t, exp.URL+"/metrics")
	if strings.Contains(body, `image_id="`+imageA+`"`) {
		t.Errorf("image A was removed from the config but is still reported:\n%s", grepSCP(body))
	}
	if !hasImage(body, imageB) {
		t.Errorf("image B should still be fetched:\n%s", grepSCP(body))
	}
	if !strings.Contains(body, "scp_exporter_config_last_reload_success_timestamp_seconds ") {
		t.Error("no reload success timestamp")
	}
	if strings.Contains(exp.Output.String(), testSecretKey) {
		t.Error("the secret key appears in the exporter's output")
	}
}

// Without --web.enable-lifecycle and without authentication in a web
// config, POST /-/reload answers 403 naming the flag and reloads nothing;
// SIGHUP still reloads.
func TestReloadOverHTTPNeedsTheLifecycleFlag(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA, scptest.Member{MemberID: memberOK, Status: "accepted"})
	fake.SetMembers(imageB, scptest.Member{MemberID: memberOK, Status: "accepted"})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yml", configYAML(url, map[string][]string{imageA: nil}, ""))
	exp := startExporter(t, cfg)
	writeFile(t, dir, "config.yml", configYAML(url, map[string][]string{imageA: nil, imageB: nil}, ""))

	code, msg := post(t, exp.URL+"/-/reload")
	if code != http.StatusForbidden || !strings.HasPrefix(msg, "Lifecycle API is not enabled.") || !strings.Contains(msg, "--web.enable-lifecycle") {
		t.Errorf("POST /-/reload without --web.enable-lifecycle: %d %q; want 403 as Prometheus words it, naming the flag", code, msg)
	}
	if _, body := httpGet(t, exp.URL+"/metrics"); hasImage(body, imageB) {
		t.Errorf("the refused reload took the new config:\n%s", grepSCP(body))
	}
	if strings.Contains(exp.Output.String(), "config reloaded") {
		t.Errorf("a reload was logged:\n%s", exp.Output)
	}
	if !strings.Contains(exp.Output.String(), "POST /-/reload is disabled") {
		t.Errorf("the start does not say that /-/reload is disabled:\n%s", exp.Output)
	}

	if err := exp.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, func() bool {
		_, body := httpGet(t, exp.URL+"/metrics")
		return hasImage(body, imageB)
	}, "SIGHUP to reload the config")
}

// grepSCP keeps the scp_ lines of a metrics page, for failure messages.
func grepSCP(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "scp_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
