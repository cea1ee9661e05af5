package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// Load reads the file at path, with keys from the environment (getenv, e.g.
// os.Getenv) where the file leaves them out, and secret_key_file and the
// list files read now. It returns every problem it finds, joined.
func Load(path string, getenv func(string) string) (*Config, error) {
	return load(path, getenv, false)
}

// LoadSkippingLists is Load for a running exporter: it resolves the paths
// of the list files but does not read them. The exporter's watchers do
// (package trustlist): a file that is missing, unreadable or malformed is
// a problem of that file, whose last good list stays in use (none at
// start), not of the config. --config.check uses Load, which refuses it.
func LoadSkippingLists(path string, getenv func(string) string) (*Config, error) {
	return load(path, getenv, true)
}

func load(path string, getenv func(string) string, skipLists bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := parse(data, filepath.Dir(path), getenv, skipLists)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// parse decodes and validates a config document. Relative file paths are
// taken from dir. It returns every problem it finds, joined.
func parse(data []byte, dir string, getenv func(string) string, skipLists bool) (*Config, error) {
	cfg := &Config{}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var errs []error
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// Not YAML at all: nothing further can be checked.
			return nil, errors.New(secretsIn(data, dir, getenv).Redact(strings.TrimPrefix(err.Error(), "yaml: ")))
		}
		// A field of the wrong type or an unknown key: the decoder went on,
		// so the rest of the file is checked too.
		errs = append(errs, typeErrors(te, data)...)
	}
	if cfg.ScrapeTimeout == 0 {
		cfg.ScrapeTimeout = Duration(DefaultScrapeTimeout)
	}
	formErrs := cfg.validateForm()
	errs = append(errs, formErrs...)
	if len(cfg.Accounts) == 0 && len(formErrs) == 0 {
		cfg.Accounts = []Account{{SCP: cfg.SCP, ExpectedMembers: nil, Images: cfg.Images, Discovery: cfg.Discovery}}
		cfg.single = true
	}
	cfg.Audit.setDefaults()
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		if a.Members == nil {
			m := cfg.Members
			a.Members = &m
		}
		if a.Audit == nil {
			au := cfg.Audit
			a.Audit = &au
		} else {
			// Only the accounts form has blocks of its own; the top-level
			// one is checked once, by validate.
			a.Audit.setDefaults()
			errs = append(errs, prefixErrs(fmt.Sprintf("accounts[%d].", i), a.Audit.validate())...)
		}
	}
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		prefix := ""
		if !cfg.single {
			prefix = fmt.Sprintf("accounts[%d].", i)
		}
		a.SCP.setDefaults()
		a.Discovery.setDefaults()
		a.SCP.TLSConfig.SetDirectory(dir)
		if err := a.SCP.resolveKeys(prefix, dir, getenv); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, a.validate(prefix, cfg.single)...)
	}
	errs = append(errs, cfg.validate()...)
	r := secretsIn(data, dir, getenv)
	r.addResolved(cfg.Accounts)
	errs = append(errs, cfg.readLists(dir, !skipLists, r)...)
	errs = append(errs, cfg.checkLabels(r)...)
	if len(errs) > 0 {
		paths := pathsOf(data)
		for i, err := range errs {
			errs[i] = paths.atLine(err)
		}
		// Validation quotes values, and a secret can sit in the wrong field.
		for i, err := range errs {
			if msg := r.Redact(err.Error()); msg != err.Error() {
				errs[i] = errors.New(msg) // the cause is dropped with the secret
			}
		}
		return nil, errors.Join(errs...)
	}
	if cfg.single {
		cfg.SCP = cfg.Accounts[0].SCP
	}
	cfg.redactor = r
	return cfg, nil
}

// resolveKeys fills the keys from secret_key_file or the environment. A key
// the file gives (access_key, secret_key or secret_key_file) wins over the
// environment; without one the secret key comes from SCP_SECRET_KEY or the
// file SCP_SECRET_KEY_FILE names, and both set is an error.
func (s *SCP) resolveKeys(prefix, dir string, getenv func(string) string) error {
	if s.AccessKey == "" {
		s.AccessKey = getenv(EnvAccessKey)
	}
	switch {
	case s.SecretKey != "" && s.SecretKeyFile != "":
		return fmt.Errorf("%sscp: set secret_key or secret_key_file, not both", prefix)
	case s.SecretKeyFile != "":
		path := s.SecretKeyFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		key, err := readSecretKeyFile(path)
		if err != nil {
			return fmt.Errorf("%sscp.secret_key_file: %w", prefix, err)
		}
		s.SecretKey = key
	case s.SecretKey == "":
		// Neither key in the file: the environment, one way only.
		envKey, envFile := getenv(EnvSecretKey), getenv(EnvSecretKeyFile)
		switch {
		case envKey != "" && envFile != "":
			return fmt.Errorf("%sscp.secret_key: set the environment variable %s or %s, not both", prefix, EnvSecretKey, EnvSecretKeyFile)
		case envFile != "":
			key, err := readSecretKeyFile(envFile)
			if err != nil {
				return fmt.Errorf("%sscp.secret_key: the environment variable %s: %w", prefix, EnvSecretKeyFile, err)
			}
			s.SecretKey = key
		default:
			s.SecretKey = commoncfg.Secret(envKey)
		}
	}
	return nil
}

// readSecretKeyFile reads a secret key file, its trailing newline trimmed;
// an empty file is an error. The error names the path, never the contents.
func readSecretKeyFile(path string) (commoncfg.Secret, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	key := commoncfg.Secret(strings.TrimRight(string(data), "\r\n"))
	if key == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return key, nil
}
