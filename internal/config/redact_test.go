package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scp-exporter/scp_exporter/internal/config"
)

// containsRun reports whether msg contains any run of 6 characters of secret.
func containsRun(msg, secret string) (string, bool) {
	for i := 0; i+6 <= len(secret); i++ {
		if strings.Contains(msg, secret[i:i+6]) {
			return secret[i : i+6], true
		}
	}
	return "", false
}

// No piece of a secret reaches an error, however it got where it did not
// belong: typed into a number field (the YAML library quotes it cut short),
// reached through an alias, taken from SCP_SECRET_KEY or a secret_key_file,
// a password in an endpoint or proxy URL, or a line of a list file.
func TestErrorsShowNoPieceOfASecret(t *testing.T) {
	const (
		inline = "Qm8vT3xLp2Rk9WzYc4Hn"
		env    = "Ev7Nq2Lx9PzR4kTw8Yb3"
		file   = "Fz3Kp9Wq2Lm7Xv4Tn8Rb"
		pass   = "Pw4Xk9Lq2Zm7Rv3Tn8Yc"
	)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(file+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A secret pasted into a list file, where it is a malformed line.
	if err := os.WriteFile(filepath.Join(dir, "list"), []byte("aaaa\n"+inline+" x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == config.EnvSecretKey {
			return env
		}
		return ""
	}
	base := "  region: kr-west1\n  environment: e\n  access_key: AK\n"
	img := "images:\n  - id: 70a599e0-31e7-49b7-b260-868f441e862b\n"
	for name, tc := range map[string]struct{ doc, secret string }{
		"inline key in max_retries":   {"scp:\n" + base + "  secret_key: " + inline + "\n  max_retries: " + inline + "\n" + img, inline},
		"inline key through an alias": {"scp:\n" + base + "  secret_key: &k " + inline + "\n  max_concurrency: *k\n" + img, inline},
		"aliased key in a list":       {"x: &k " + inline + "\nscp:\n" + base + "  secret_key: *k\n  request_timeout: *k\n" + img, inline},
		"environment key in a field":  {"scp:\n" + base + "  max_retries: " + env + "\n" + img, env},
		"environment key in language": {"scp:\n" + base + "  language: " + env + "\n" + img, env},
		"file key in a field":         {"scp:\n" + base + "  secret_key_file: key\n  requests_per_second: " + file + "\n" + img, file},
		"password in the endpoint":    {"scp:\n  endpoint: https://user:" + pass + "@proxy.example/#frag\n  access_key: AK\n  secret_key: " + inline + "\n" + img, pass},
		"password in iam_endpoint":    {"scp:\n" + base + "  secret_key: " + inline + "\n  iam_endpoint: https://user:" + pass + "@iam.example\n" + img, pass},
		"password in audit_endpoint":  {"scp:\n" + base + "  secret_key: " + inline + "\n  audit_endpoint: https://user:" + pass + "@audit.example\n" + img, pass},
		"inline key in a list file":   {"scp:\n" + base + "  secret_key: " + inline + "\nexpected_members_file: list\n" + img, inline},
		"password in proxy_url":       {"scp:\n" + base + "  secret_key: " + inline + "\n  proxy_url: http://user:" + pass + "@proxy:3128\n  max_retries: x\n" + img, pass},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.doc), dir, getenv)
			if err == nil {
				t.Fatal("the document was accepted; the test proves nothing")
			}
			if run, ok := containsRun(err.Error(), tc.secret); ok {
				t.Errorf("the error shows %q of the secret:\n%v", run, err)
			}
			if !strings.Contains(err.Error(), "<secret>") && strings.Contains(name, "field") {
				t.Errorf("the error shows no <secret> where the value was:\n%v", err)
			}
		})
	}
}

// A URL whose password makes it unparsable is quoted whole by its error:
// its password is found without parsing it.
func TestUnparsableURLPasswordsAreRedacted(t *testing.T) {
	const pass = "Hunter2Pass%zz9Kq"
	for _, field := range []string{"endpoint", "iam_endpoint", "audit_endpoint", "proxy_url"} {
		doc := "scp:\n  region: kr-west1\n  environment: e\n  access_key: AK\n  secret_key: Qm8vT3xLp2Rk9WzYc4Hn\n"
		if field == "endpoint" {
			doc = "scp:\n  access_key: AK\n  secret_key: Qm8vT3xLp2Rk9WzYc4Hn\n"
		}
		doc += "  " + field + ": \"https://user:" + pass + "@host.example/x\"\nimages:\n  - id: 70a599e0-31e7-49b7-b260-868f441e862b\n"
		_, err := config.Parse([]byte(doc), t.TempDir(), func(string) string { return "" })
		if err == nil {
			t.Fatalf("%s: accepted", field)
		}
		if run, ok := containsRun(err.Error(), pass); ok {
			t.Errorf("%s: the error shows %q of the password:\n%v", field, run, err)
		}
	}
}
