package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// TestSecretKeyNeverLeaks runs the exporter at debug level through every kind
// of failure, a bad reload and a config check, and searches everything it
// wrote and served for the secret key.
func TestSecretKeyNeverLeaks(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	images := map[string]scptest.Fault{
		"11111111-1111-4111-8111-111111111111": {Status: http.StatusInternalServerError},
		"22222222-2222-4222-8222-222222222222": {Body: "<html>bad gateway</html>"},
		"33333333-3333-4333-8333-333333333333": {Reset: true},
		"44444444-4444-4444-8444-444444444444": {Status: http.StatusUnauthorized},
		"55555555-5555-4555-8555-555555555555": {Status: http.StatusTooManyRequests, RetryAfter: "0"},
		"66666666-6666-4666-8666-666666666666": {Delay: 10 * time.Second},
	}
	ids := map[string][]string{imageGone: nil}
	for id, fault := range images {
		fake.SetMembers(id)
		fake.SetFault(id, fault)
		ids[id] = nil
	}
	dir := t.TempDir()
	good := configYAML(url, ids, "scrape_timeout: 2s\n")
	cfg := writeFile(t, dir, "config.yml", good)
	exp := startExporter(t, cfg, "--log.level=debug", "--web.enable-lifecycle")

	var seen []string
	for range 2 {
		_, body := httpGet(t, exp.URL+"/metrics")
		seen = append(seen, body)
	}
	_, landing := httpGet(t, exp.URL+"/")
	seen = append(seen, landing)

	// A broken config that still carries the secret.
	writeFile(t, dir, "config.yml", strings.Replace(good, "images:", "imagez:", 1))
	_, reloadMsg := reload(t, exp)
	seen = append(seen, reloadMsg)
	check, _ := exec.Command(exporterBinary(t), "--config.check", "--config.file="+cfg).CombinedOutput()
	seen = append(seen, string(check))
	// And one with the secret where a number belongs.
	writeFile(t, dir, "config.yml", good+"min_refresh_interval: "+testSecretKey+"\n")
	_, reloadMsg = reload(t, exp)
	seen = append(seen, reloadMsg)

	seen = append(seen, exp.Output.String())
	if !strings.Contains(exp.Output.String(), "level=debug") {
		t.Fatal("the exporter did not log at debug level; the test proves nothing")
	}
	if !strings.Contains(seen[0], `reason="server_error"`) || !strings.Contains(seen[0], `reason="network"`) {
		t.Fatalf("the failures did not happen:\n%s", grepSCP(seen[0]))
	}
	for i, s := range seen {
		if strings.Contains(s, testSecretKey) {
			t.Errorf("output %d contains the secret key:\n%s", i, s)
		}
	}
}

// pieceOf returns a run of 6 characters of secret that s shows, if any.
func pieceOf(s, secret string) (string, bool) {
	for i := 0; i+6 <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+6]) {
			return secret[i : i+6], true
		}
	}
	return "", false
}

// --config.check shows no piece of a secret the YAML parser quotes (a key
// starting with "*" is an alias to an unknown anchor), nor of one a
// message escapes (a key with quotes in a field of the wrong type), and
// refuses an image name that would show one in /metrics.
func TestConfigCheckShowsNoPieceOfASecret(t *testing.T) {
	const (
		star   = "*Qm8vT3xLp2Rk9WzYc4Hn"
		quotes = `Ab1"Cd2"Ef3"Gh4"Ij5"Kl6`
	)
	head := "scp:\n  endpoint: http://127.0.0.1:1\n  access_key: " + testAccessKey + "\n"
	img := "images:\n  - id: 70a599e0-31e7-49b7-b260-868f441e862b\n"
	for name, tc := range map[string]struct {
		config, env, secret, want string
		forms                     []string
	}{
		"a key starting with *": {config: head + "  secret_key: " + star + "\n" + img, secret: star,
			want: "unknown anchor '<secret>' referenced"},
		"a key with quotes in a number field": {config: head + "  secret_key: '" + quotes + "'\n  max_retries: '" + quotes + "'\n" + img,
			secret: quotes, forms: []string{strconv.Quote(quotes)}, want: `scp.max_retries: "<secret>" is not a whole number`},
		"an environment key with quotes in a text field": {config: head + "  language: '" + quotes + "'\n" + img, env: quotes,
			secret: quotes, forms: []string{strconv.Quote(quotes)}, want: `scp.language: "<secret>" is not en-US or ko-KR`},
		"an image named with a piece of the key": {config: head + "  secret_key: " + star[1:] + "\n" + img + "    name: build-" + star[4:14] + "\n",
			secret: star[1:], want: "images[0].name: contains a piece of a secret key"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := writeFile(t, t.TempDir(), "config.yml", tc.config)
			cmd := exec.Command(exporterBinary(t), "--config.check", "--config.file="+cfg)
			cmd.Env = append(os.Environ(), "SCP_SECRET_KEY="+tc.env)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("--config.check accepted the config:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("the output does not say %q:\n%s", tc.want, out)
			}
			for _, form := range append(tc.forms, tc.secret) {
				if run, ok := pieceOf(string(out), form); ok {
					t.Errorf("the output shows %q of the secret (as %s):\n%s", run, form, out)
				}
			}
		})
	}
}

// An image whose name, given by the API to discovery, holds the secret key
// shows <secret> in place of it in /metrics; nothing else changes.
func TestDiscoveredImageNamedWithTheSecretIsRedacted(t *testing.T) {
	const (
		secret = "Qm8vT3xLp2Rk9WzYc4Hn" // a key without a word in it: HELP texts say "secret"
		named  = "8d2f4c1a-5b6e-4f70-9a81-2c3d4e5f6a7b"
	)
	fake, url := startFake(t, scptest.Options{AccessKey: testAccessKey, SecretKey: secret})
	fake.SetMembers(imageA)
	fake.SetMembers(named)
	fake.AddImages(scptest.Image{ID: imageA, Name: "golden", Visibility: "private"},
		scptest.Image{ID: named, Name: "build-" + secret + "-2", Visibility: "private"})
	cfg := writeFile(t, t.TempDir(), "config.yml", "scp:\n  endpoint: "+url+"\n  access_key: "+testAccessKey+"\n  secret_key: "+secret+
		"\nimages:\n  - id: "+imageA+"\n    name: golden\ndiscovery:\n  enabled: true\n  visibility: [private]\n")
	exp := startExporter(t, cfg, "--log.level=debug")
	testwait.ForWithin(t, 15*time.Second, func() bool { return ready(t, exp) == http.StatusOK }, "/-/ready to answer 200")
	_, body := httpGet(t, exp.URL+"/metrics")
	if want := `scp_image_info{image_id="` + named + `",name="build-<secret>-2"} 1`; !hasLine(body, want) {
		t.Errorf("/metrics lacks %s:\n%s", want, grepSCP(body))
	}
	if want := `scp_image_info{image_id="` + imageA + `",name="golden"} 1`; !hasLine(body, want) {
		t.Errorf("/metrics lacks %s:\n%s", want, grepSCP(body))
	}
	for what, s := range map[string]string{"/metrics": body, "the log": exp.Output.String()} {
		if run, ok := pieceOf(s, secret); ok {
			t.Errorf("%s shows %q of the secret key", what, run)
		}
	}
}
