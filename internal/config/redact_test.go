package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	if err := os.WriteFile(filepath.Join(dir, "list"), []byte("aaaa\n"+inline+",x\n"), 0o600); err != nil {
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

// A document the YAML parser refuses has no nodes to find its secrets in,
// but the parser's error may quote one: a secret starting with "*" is an
// alias to an unknown anchor, whose name the error shows. Its secrets are
// found in the raw text, in the styles YAML writes a mapping in, and in
// the files and environment it points at.
func TestParserErrorsShowNoPieceOfASecret(t *testing.T) {
	const (
		inline = "*Qm8vT3xLp2Rk9WzYc4Hn"
		file   = "*Fz3Kp9Wq2Lm7Xv4Tn8Rb"
		env    = "*Ev7Nq2Lx9PzR4kTw8Yb3"
	)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(file+"\n"), 0o600); err != nil {
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
		"plain":                    {"scp:\n" + base + "  secret_key: " + inline + "\n" + img, inline},
		"plain with a comment":     {"scp:\n" + base + "  secret_key: " + inline + " # rotated\n" + img, inline},
		"flow mapping":             {"scp: {region: kr-west1, environment: e, access_key: AK, secret_key: " + inline + "}\n" + img, inline},
		"flow mapping, not last":   {"scp: {region: kr-west1, secret_key: " + inline + ", environment: e, access_key: AK}\n" + img, inline},
		"flow mapping, multi-line": {"scp: {\n  region: kr-west1,\n  secret_key: " + inline + ",\n  environment: e }\n" + img, inline},
		"quoted key, JSON style":   {`{"scp": {"region": "kr-west1", "environment": "e", "secret_key":` + inline + `}}` + "\n", inline},
		"in a list of accounts":    {"accounts:\n  - name: a\n    scp: {secret_key: " + inline + "}\n", inline},
		"through an alias": {"x: &k Qm8vT3xLp2Rk9WzYc4Hn\nscp:\n" + base + "  secret_key: *k\n  language: *Qm8vT3xLp2Rk9WzYc4Hn\n" + img,
			"Qm8vT3xLp2Rk9WzYc4Hn"},
		"in a file":              {"scp:\n" + base + "  secret_key_file: key\n  language: " + file + "\n" + img, file},
		"in a quoted file name":  {"scp:\n" + base + "  'secret_key_file': \"k\\x65y\"\n  language: " + file + "\n" + img, file},
		"in the environment":     {"scp:\n" + base + "  language: " + env + "\n" + img, env},
		"a block scalar":         {"scp:\n" + base + "  secret_key: |\n    Qm8vT3xLp2Rk9WzYc4Hn\n  language: *Qm8vT3xLp2Rk9WzYc4Hn\n" + img, inline},
		"a URL password":         {"scp:\n" + base + "  secret_key: x\n  proxy_url: http://u:Pw4Xk9Lq2Zm7@proxy:3128\n  language: *Pw4Xk9Lq2Zm7\n" + img, "Pw4Xk9Lq2Zm7"},
		"a URL password in flow": {"scp: {proxy_url: 'http://u:Pw4Xk9Lq2Zm7@proxy:3128', language: *Pw4Xk9Lq2Zm7}\n" + img, "Pw4Xk9Lq2Zm7"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.doc), dir, getenv)
			if err == nil {
				t.Fatal("the document was accepted; the test proves nothing")
			}
			if !strings.Contains(err.Error(), "anchor") {
				t.Fatalf("not the parser's error about an anchor; the test proves nothing:\n%v", err)
			}
			if run, ok := containsRun(err.Error(), tc.secret); ok {
				t.Errorf("the error shows %q of the secret:\n%v", run, err)
			}
			if !strings.Contains(err.Error(), "<secret>") {
				t.Errorf("the error shows no <secret> where the value was:\n%v", err)
			}
		})
	}
}

// A secret whose quotes or backslashes a message escapes shares no run of
// 6 characters with the message when they are close enough together: it
// is matched as Go's %q, JSON and YAML quote it too.
func TestEscapedSecretsAreRedacted(t *testing.T) {
	const secret = `Qm8v"T3x\Lp2"Rk9W"zYc4"Hn`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == config.EnvSecretKey {
			return secret
		}
		return ""
	}
	quoted := strconv.Quote(secret)
	single := "'" + strings.ReplaceAll(secret, "'", "''") + "'"
	base := "  region: kr-west1\n  environment: e\n  access_key: AK\n"
	img := "images:\n  - id: 70a599e0-31e7-49b7-b260-868f441e862b\n"
	for name, doc := range map[string]string{
		"inline, in a number field":  "scp:\n" + base + "  secret_key: " + single + "\n  max_retries: " + single + "\n" + img,
		"inline, in a text field":    "scp:\n" + base + "  secret_key: " + quoted + "\n  language: " + quoted + "\n" + img,
		"environment, in a field":    "scp:\n" + base + "  max_concurrency: " + single + "\n" + img,
		"file, in a field":           "scp:\n" + base + "  secret_key_file: key\n  requests_per_second: " + quoted + "\n" + img,
		"inline, in an account name": "accounts:\n  - name: " + single + "\n    scp:\n  " + strings.ReplaceAll(base, "\n  ", "\n    ") + "    secret_key: " + single + "\n    images: [{id: 70a599e0-31e7-49b7-b260-868f441e862b}]\n",
		"inline, in a visibility":    "scp:\n" + base + "  secret_key: " + single + "\nallowed_visibility: [" + quoted + "]\n" + img,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse([]byte(doc), dir, getenv)
			if err == nil {
				t.Fatal("the document was accepted; the test proves nothing")
			}
			msg := err.Error()
			if !strings.Contains(msg, "<secret>") {
				t.Errorf("the error shows no <secret> where the value was:\n%v", err)
			}
			for _, form := range []string{secret, quoted[1 : len(quoted)-1], strings.ReplaceAll(secret, `"`, `\u0022`)} {
				if run, ok := containsRun(msg, form); ok {
					t.Errorf("the error shows %q of the secret as %s:\n%v", run, form, err)
				}
			}
		})
	}
}

// The values of the config that /metrics shows as label values (an image's
// or an account's name, the endpoint URLs, the list files' paths) are
// checked against the secrets like every message: one holding a piece of
// a secret is refused, and the error does not show it.
func TestLabelValuesHoldingASecretAreRefused(t *testing.T) {
	const (
		inline = "Qm8vT3xLp2Rk9WzYc4Hn"
		env    = "Ev7Nq2Lx9PzR4kTw8Yb3"
		file   = "Fz3Kp9Wq2Lm7Xv4Tn8Rb"
	)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(file+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == config.EnvSecretKey {
			return env
		}
		return ""
	}
	for _, id := range []string{"list", "list-" + inline[3:12]} {
		if err := os.WriteFile(filepath.Join(dir, id), []byte("aaaa\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	scp := func(key string) string {
		return "scp:\n  region: kr-west1\n  environment: e\n  access_key: AK\n  " + key + "\n"
	}
	images := func(names ...string) string {
		var b strings.Builder
		b.WriteString("images:\n")
		for i, n := range names {
			fmt.Fprintf(&b, "  - id: 70a599e0-31e7-49b7-b260-868f441e86%02d\n    name: %s\n", i, n)
		}
		return b.String()
	}
	for name, tc := range map[string]struct{ doc, field, secret string }{
		"inline key in an image name": {scp("secret_key: "+inline) + images("base", "base", "base", "build-"+inline[2:9]+"-x"), "images[3].name", inline},
		"environment key":             {scp("access_key: AK") + images("golden-"+env), "images[0].name", env},
		"file key":                    {scp("secret_key_file: key") + images(file[5:]), "images[0].name", file},
		"an account's image": {"accounts:\n  - name: a\n    scp: {region: kr-west1, environment: e, access_key: AK, secret_key: " + inline + "}\n" +
			"    images: [{id: 70a599e0-31e7-49b7-b260-868f441e862b, name: x" + inline[4:11] + "}]\n", "accounts[0].images[0].name", inline},
		"an account's name": {"accounts:\n  - name: acct-" + inline[:8] + "\n    scp: {region: kr-west1, environment: e, access_key: AK, secret_key: " + inline + "}\n" +
			"    images: [{id: 70a599e0-31e7-49b7-b260-868f441e862b}]\n", "accounts[0].name", inline},
		"the endpoint's path":      {"scp:\n  endpoint: https://api.example/" + inline[1:8] + "\n  access_key: AK\n  secret_key: " + inline + "\n" + images("x"), "scp.endpoint", inline},
		"a list file's path":       {scp("secret_key: "+inline) + "expected_members_file: list-" + inline[3:12] + "\n" + images("x"), "expected_members_file", inline},
		"a URL password in a name": {scp("secret_key: "+inline+"\n  proxy_url: http://u:Pw4Xk9Lq2Zm7@proxy:3128") + images("Pw4Xk9Lq"), "images[0].name", "Pw4Xk9Lq2Zm7"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.doc), dir, getenv)
			if err == nil {
				t.Fatal("accepted a label value holding a piece of the secret")
			}
			want := tc.field + ": contains a piece of a secret key"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error does not say %q:\n%v", want, err)
			}
			if run, ok := containsRun(err.Error(), tc.secret); ok {
				t.Errorf("the error shows %q of the secret:\n%v", run, err)
			}
		})
	}
	// A name that shares less than 6 characters in a row is fine.
	if _, err := config.Parse([]byte(scp("secret_key: "+inline)+images("Qm8vT-golden")), dir, getenv); err != nil {
		t.Errorf("refused a name sharing only 5 characters with the secret: %v", err)
	}
}

// BenchmarkRedactName is the redaction of one image name with nothing to
// hide, which every scrape does for every image (collector.Scope.Redact).
func BenchmarkRedactName(b *testing.B) {
	r := config.NewRedactor("Qm8vT3xLp2Rk9WzYc4HnQm8vT3xLp2Rk9WzYc4Hn")
	b.ReportAllocs()
	for b.Loop() {
		r.Redact("ubuntu-22.04-golden-image-1234")
	}
}
