package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scp-exporter/scp_exporter/internal/config"
)

// TestSecretKeyFileFromEnvironment: SCP_SECRET_KEY_FILE names the secret
// key's file when the config gives no key (the Helm chart's way, so that
// config.example.yml works as shipped); a key the config gives wins over
// it; it and SCP_SECRET_KEY together are refused; errors name the variable
// and the path, never the key.
func TestSecretKeyFileFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "secret_key")
	if err := os.WriteFile(keyFile, []byte(envSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envWith

	c, err := config.Load("testdata/good-env-keys.yml", env(map[string]string{config.EnvAccessKey: envAccess, config.EnvSecretKeyFile: keyFile}))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(c.SCP.SecretKey); got != envSecret {
		t.Errorf("secret key %q, want the file's, its newline trimmed", got)
	}

	// secret_key_file in the config wins, as access_key does.
	c, err = config.Load("testdata/good-secret-file.yml", env(map[string]string{config.EnvSecretKeyFile: keyFile}))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/secret.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(c.SCP.SecretKey); got != strings.TrimSpace(string(want)) || got == envSecret {
		t.Errorf("secret key %q, want the config's secret_key_file over SCP_SECRET_KEY_FILE", got)
	}

	// Both variables: which one would win is not obvious, so neither does.
	_, err = config.Load("testdata/good-env-keys.yml", env(map[string]string{
		config.EnvAccessKey: envAccess, config.EnvSecretKey: envSecret, config.EnvSecretKeyFile: keyFile,
	}))
	if err == nil || !strings.Contains(err.Error(), "SCP_SECRET_KEY or SCP_SECRET_KEY_FILE, not both") {
		t.Errorf("both variables set: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), envSecret) {
		t.Errorf("the error shows the secret key: %v", err)
	}

	// A file that is not there: the variable and the path, wrapped.
	missing := filepath.Join(dir, "nope")
	_, err = config.Load("testdata/good-env-keys.yml", env(map[string]string{config.EnvAccessKey: envAccess, config.EnvSecretKeyFile: missing}))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "SCP_SECRET_KEY_FILE") || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = config.Load("testdata/good-env-keys.yml", env(map[string]string{config.EnvAccessKey: envAccess, config.EnvSecretKeyFile: empty})); err == nil ||
		!strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty file: %v", err)
	}

	// The key read through the variable is redacted from messages.
	c, err = config.Load("testdata/good-env-keys.yml", env(map[string]string{config.EnvAccessKey: envAccess, config.EnvSecretKeyFile: keyFile}))
	if err != nil {
		t.Fatal(err)
	}
	if msg := c.Redact("label " + envSecret); strings.Contains(msg, envSecret) {
		t.Errorf("Redact left the key read through SCP_SECRET_KEY_FILE: %q", msg)
	}
}

// TestSecretKeyFileFromEnvironmentRedactedOnError: when the config is
// refused before the key is resolved (here: both variables set), a value
// that quotes the key of SCP_SECRET_KEY_FILE's file is still redacted.
func TestSecretKeyFileFromEnvironmentRedactedOnError(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "secret_key")
	if err := os.WriteFile(keyFile, []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yml")
	// The key pasted into a field whose type error quotes it.
	if err := os.WriteFile(cfg, []byte("scp:\n  region: kr-west1\n  environment: e\n  max_concurrency: "+fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(cfg, envWith(map[string]string{
		config.EnvAccessKey: envAccess, config.EnvSecretKey: envSecret, config.EnvSecretKeyFile: keyFile,
	}))
	if err == nil || !strings.Contains(err.Error(), "max_concurrency") {
		t.Fatalf("want an error about max_concurrency: %v", err)
	}
	if strings.Contains(err.Error(), fileSecret) {
		t.Errorf("the error shows the secret key: %v", err)
	}
}
