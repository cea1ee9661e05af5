package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/scp-exporter/scp_exporter/internal/config"
)

// Secrets the fuzz target plants; none may come back in an error.
const (
	inlineSecret = "Inl1neSecretMarkerQ7"
	envSecretM   = "EnvSecretMarkerZ9k2"
	fileSecretM  = "F1leSecretMarkerX3p"
)

// FuzzParseConfig parses arbitrary documents. Parse must never panic, and
// whatever secret the document holds, in secret_key (with any YAML tag or
// style the fuzzer picks), in SCP_SECRET_KEY or in a secret_key_file, must
// never appear in the error, nor any 6-character run of it.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		"scp:\n  region: kr-west1\n  environment: e\n  access_key: AK\n  secret_key: s\nimages:\n  - id: 70a599e0-31e7-49b7-b260-868f441e862b\n",
		"scp:\n  endpoint: https://proxy.example:8443/x\n  access_key: AK\n  secret_key_file: secret\nimages:\n  - id: 70a599e0-31e7-49b7-b260-868f441e862b\n    expected_members: [a1]\n",
		"scp:\n  region: kr-south1\n  environment: g\n  secret_key: !!int s\n",
		"scp:\n  secret_key: &k s\n  region: *k\n",
		"scp:\n  secret_key: s\n  bogus: 1\n",
		"scp:\n  secret_key: |\n    s\n  max_concurrency: x\n",
		"accounts:\n  - name: a\n    scp:\n      region: kr-west1\n      environment: e\n      access_key: AK\n      secret_key: s\n    images:\n      - id: 70a599e0-31e7-49b7-b260-868f441e862b\n",
		"scp:\n  endpoint: https://proxy.example\n  access_key: AK\n  secret_key: s\nexpected_members:\n  - a1\n  - {id: b2, name: Build farm}\n  - {id: b2, name: Other, x: 1}\nexpected_image_owners:\n  - id: c3\n    name: [v]\nimages:\n  - id: 70a599e0-31e7-49b7-b260-868f441e862b\n    expected_members: [{name: no id}, [x]]\n",
		"scp: [1, 2]\n",
		"",
		"---\n...\n",
		"{scp: {secret_key: !!float s, max_retries: ~}}",
		"scp:\n  endpoint: https://proxy.example\n  audit_endpoint: https://audit.example\n  access_key: AK\n  secret_key: s\nmax_members: 2\naudit: {enabled: true, poll_interval: 5s}\nexpected_members_file: secret\nimages:\n  - id: 70a599e0-31e7-49b7-b260-868f441e862b\n    max_members: 0\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(fileSecretM+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	getenv := func(k string) string {
		if k == config.EnvSecretKey {
			return envSecretM
		}
		return ""
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range []string{inlineSecret, envSecretM, fileSecretM} {
			if _, ok := containsRun(string(data), m); ok {
				t.Skip("the input spells a piece of a marker itself")
			}
		}
		doc := plantSecret(data)
		cfg, err := config.Parse(doc, dir, getenv)
		if err != nil {
			if cfg != nil {
				t.Fatal("a config was returned with an error")
			}
			msg := err.Error()
			for _, m := range []string{inlineSecret, envSecretM, fileSecretM} {
				if run, ok := containsRun(msg, m); ok {
					t.Fatalf("the error shows %q of a secret:\n%s\ndocument:\n%s", run, msg, doc)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("nil config without an error")
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshalling a parsed config: %v", err)
		}
		for _, m := range []string{inlineSecret, envSecretM, fileSecretM} {
			if bytes.Contains(out, []byte(m)) {
				t.Fatalf("the marshalled config shows a secret:\n%s", out)
			}
		}
	})
}

// plantSecret sets every scalar secret_key value of the document to
// inlineSecret, keeping the tag and style the input gave it. It returns the
// input unchanged when it is not YAML, or when the value is anchored (an
// alias could then legitimately carry the secret into another field, where
// it is no longer a secret key).
func plantSecret(data []byte) []byte {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return data
	}
	planted, anchored := false, false
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "secret_key" && v.Kind == yaml.ScalarNode {
					v.Value = inlineSecret
					planted = true
					anchored = anchored || v.Anchor != ""
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	if !planted || anchored {
		return data
	}
	out, err := yaml.Marshal(&root)
	if err != nil {
		return data
	}
	return out
}
