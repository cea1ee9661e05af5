package config

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// minSecretRun is the shortest run of a secret that is never shown: the
// YAML library quotes a long value cut short, so hiding whole values only
// would still show their first characters.
const minSecretRun = 6

// minSecretLen: a shorter value cannot be hidden without hiding most of a
// message (and is no secret key); such values are left alone.
const minSecretLen = 4

// Redact removes from msg every piece of a secret the config holds: the
// secret keys and the passwords of its URLs. For messages about files the
// config names, such as a list file's line, which may quote whatever was
// pasted into it.
func (c *Config) Redact(msg string) string {
	var r redactor
	for _, a := range c.Accounts {
		r.add(string(a.SCP.SecretKey))
		for _, u := range []string{a.SCP.Endpoint, a.SCP.IAMEndpoint, a.SCP.AuditEndpoint} {
			for _, p := range urlPasswords(u) {
				r.add(p)
			}
		}
		if u := a.SCP.ProxyURL.URL; u != nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				r.add(p)
			}
		}
	}
	return r.redact(msg)
}

// redactor removes secrets from messages.
type redactor struct{ secrets []string }

// secretsIn finds every secret a config document carries or points at: the
// secret_key values (aliases followed), the contents of the secret_key_file
// files, SCP_SECRET_KEY, and the passwords of the endpoint, iam_endpoint,
// audit_endpoint and proxy_url URLs. It reads the document as YAML nodes,
// so it works on a document that does not decode into a Config.
func secretsIn(data []byte, dir string, getenv func(string) string) redactor {
	var r redactor
	r.add(getenv(EnvSecretKey))
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return r
	}
	seen := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		if n.Kind == yaml.AliasNode {
			walk(n.Alias)
			return
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.AliasNode && v.Alias != nil {
					v = v.Alias
				}
				if v.Kind != yaml.ScalarNode {
					continue
				}
				switch k.Value {
				case "secret_key":
					r.add(v.Value)
				case "secret_key_file":
					path := v.Value
					if !filepath.IsAbs(path) {
						path = filepath.Join(dir, path)
					}
					if b, err := os.ReadFile(path); err == nil {
						r.add(strings.TrimRight(string(b), "\r\n"))
					}
				case "endpoint", "iam_endpoint", "audit_endpoint", "proxy_url":
					for _, p := range urlPasswords(v.Value) {
						r.add(p)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	return r
}

func (r *redactor) add(secret string) {
	if len(secret) >= minSecretLen {
		r.secrets = append(r.secrets, secret)
	}
}

// redact replaces every run of minSecretRun or more characters of a secret
// in msg (the whole secret, when it is shorter) with <secret>. Every run
// counts, even one that is also a word of the message: it is still a piece
// of the secret.
func (r redactor) redact(msg string) string {
	if len(r.secrets) == 0 {
		return msg
	}
	hide := make([]bool, len(msg))
	for _, s := range r.secrets {
		n := min(minSecretRun, len(s))
		for i := 0; i+n <= len(msg); i++ {
			if strings.Contains(s, msg[i:i+n]) {
				for j := i; j < i+n; j++ {
					hide[j] = true
				}
			}
		}
	}
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		if !hide[i] {
			b.WriteByte(msg[i])
			continue
		}
		b.WriteString("<secret>")
		for i+1 < len(msg) && hide[i+1] {
			i++
		}
	}
	return b.String()
}

// urlPasswords returns the password of a URL's user info, as written and
// unescaped, found without parsing the URL: one that does not parse is
// quoted whole in its error.
func urlPasswords(raw string) []string {
	rest := raw
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return nil
	}
	userinfo := rest[:at]
	_, pass, ok := strings.Cut(userinfo, ":")
	if !ok {
		pass = userinfo // a user alone may be a token
	}
	out := []string{pass}
	if u, err := url.PathUnescape(pass); err == nil && u != pass {
		out = append(out, u)
	}
	return out
}
