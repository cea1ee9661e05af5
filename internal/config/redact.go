package config

import (
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
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

// maxSecretFile is how much of a file that may hold a secret is read to
// redact it: far more than any key.
const maxSecretFile = 4 << 10

// Redactor removes every piece of a set of secrets from text: every run of
// minSecretRun or more bytes of a secret (the whole secret, when it is
// shorter), as written or as a message may quote it (Go's %q, JSON, YAML's
// quoted styles, URL escaping). The zero value and nil hide nothing. It is
// safe for concurrent use once built.
type Redactor struct {
	// runs holds every minSecretRun-byte run of every form of every
	// secret; whole the forms shorter than that, matched whole.
	runs  map[string]struct{}
	whole []string
	// starts has a bit for the first two bytes of each run: most places
	// of a message are passed over with one look at it (a scrape redacts
	// every image's name).
	starts *[1 << 16 / 64]uint64
}

// NewRedactor returns a redactor of secrets (those shorter than 4 bytes
// are left out).
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		r.add(s)
	}
	return r
}

// Redact removes from msg every piece of a secret the config holds or
// points at: the secret keys (as written, in secret_key_file or in
// SCP_SECRET_KEY) and the passwords of its URLs. For messages about files
// the config names, such as a list file's line, which may quote whatever
// was pasted into it.
func (c *Config) Redact(msg string) string { return c.Redactor().Redact(msg) }

// Redactor is the config's redactor (see Redact), built once by Load: the
// collector redacts label values from the API with it.
func (c *Config) Redactor() *Redactor {
	if c.redactor != nil {
		return c.redactor
	}
	r := &Redactor{} // a Config not made by Load: its resolved keys only
	r.addResolved(c.Accounts)
	return r
}

// addResolved adds the keys of accounts as Load resolved them, and the
// passwords of their URLs.
func (r *Redactor) addResolved(accounts []Account) {
	for _, a := range accounts {
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
}

// secretsIn finds every secret a config document carries or points at:
// SCP_SECRET_KEY, the secret_key values, the contents of the
// secret_key_file files and of SCP_SECRET_KEY_FILE's, and the passwords of the endpoint, iam_endpoint,
// audit_endpoint and proxy_url URLs. It reads them twice: from the raw
// text (secretsInText), which works on a document the YAML parser refuses,
// whose error may quote a secret; and as YAML nodes (aliases followed),
// when the document parses, even if it does not decode into a Config.
func secretsIn(data []byte, dir string, getenv func(string) string) *Redactor {
	r := &Redactor{}
	r.add(getenv(EnvSecretKey))
	readFile := func(path string) {
		if path == "" {
			return
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		// The raw text may name a file Load would not read (on a line
		// commented out): only a regular file's start is read.
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() { //nolint:gosec // G703: a path the config names, as Load reads it
			return
		}
		f, err := os.Open(path) //nolint:gosec // G304, G703: as above
		if err != nil {
			return
		}
		defer f.Close()
		if b, err := io.ReadAll(io.LimitReader(f, maxSecretFile)); err == nil {
			r.add(strings.TrimRight(string(b), "\r\n"))
		}
	}
	found := func(key, value string) {
		switch key {
		case "secret_key":
			r.add(value)
		case "secret_key_file":
			readFile(value)
		case "endpoint", "iam_endpoint", "audit_endpoint", "proxy_url":
			for _, p := range urlPasswords(value) {
				r.add(p)
			}
		}
	}
	// SCP_SECRET_KEY_FILE: relative to the working directory, as Load reads it.
	if p := getenv(EnvSecretKeyFile); p != "" {
		if abs, err := filepath.Abs(p); err == nil {
			readFile(abs)
		}
	}
	secretsInText(data, found)
	secretsInNodes(data, found)
	return r
}

// secretsInNodes calls found with each key that names a secret and its
// value, reading the document as YAML nodes; nothing when it does not
// parse.
func secretsInNodes(data []byte, found func(key, value string)) {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return
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
				if v.Kind == yaml.ScalarNode && secretKeys[k.Value] {
					found(k.Value, v.Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
}

// secretKeys are the keys whose values are, or lead to, secrets.
var secretKeys = map[string]bool{
	"secret_key": true, "secret_key_file": true,
	"endpoint": true, "iam_endpoint": true, "audit_endpoint": true, "proxy_url": true,
}

// add adds a secret, with the forms a message may quote it in.
func (r *Redactor) add(secret string) {
	if len(secret) < minSecretLen {
		return
	}
	if r.runs == nil {
		r.runs, r.starts = map[string]struct{}{}, new([1 << 16 / 64]uint64)
	}
	for _, f := range quotedForms(secret) {
		if len(f) < minSecretRun {
			r.whole = append(r.whole, f)
			continue
		}
		for i := 0; i+minSecretRun <= len(f); i++ {
			r.runs[f[i:i+minSecretRun]] = struct{}{}
			k := uint16(f[i])<<8 | uint16(f[i+1])
			r.starts[k/64] |= 1 << (k % 64)
		}
	}
}

// quotedForms are s and s as messages may quote it, without the quotes:
// Go's %q (and its ASCII-only form), JSON (with and without HTML
// escaping), YAML's double- and single-quoted styles, and URL escaping.
// An escaped secret shares no run with the secret itself when its
// escapes are close enough together.
func quotedForms(s string) []string {
	forms := []string{s, unquote(strconv.Quote(s)), unquote(strconv.QuoteToASCII(s)),
		strings.ReplaceAll(s, "'", "''"), url.QueryEscape(s), url.PathEscape(s)}
	if b, err := json.Marshal(s); err == nil {
		forms = append(forms, unquote(string(b)))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) == nil {
		forms = append(forms, unquote(strings.TrimSuffix(b.String(), "\n")))
	}
	if y, err := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Value: s}); err == nil {
		forms = append(forms, unquote(strings.TrimSuffix(string(y), "\n")))
	}
	out := forms[:0]
	seen := map[string]bool{}
	for _, f := range forms {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// unquote drops the quotes around a quoted string.
func unquote(q string) string {
	if len(q) >= 2 {
		return q[1 : len(q)-1]
	}
	return q
}

// Redact replaces every run of minSecretRun or more bytes of a secret in
// msg (the whole secret, when it is shorter) with <secret>. Every run
// counts, even one that is also a word of the message: it is still a piece
// of the secret.
func (r *Redactor) Redact(msg string) string {
	hide := r.hidden(msg)
	if hide == nil {
		return msg
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

// Holds reports whether s contains a piece of a secret: whether Redact
// would change it.
func (r *Redactor) Holds(s string) bool { return r.hidden(s) != nil }

// hidden marks the bytes of msg that are pieces of a secret; nil when
// there are none.
func (r *Redactor) hidden(msg string) []bool {
	if r == nil || (len(r.runs) == 0 && len(r.whole) == 0) {
		return nil
	}
	var hide []bool
	mark := func(i, n int) {
		if hide == nil {
			hide = make([]bool, len(msg))
		}
		for j := i; j < i+n; j++ {
			hide[j] = true
		}
	}
	for i := 0; i+minSecretRun <= len(msg); i++ {
		if k := uint16(msg[i])<<8 | uint16(msg[i+1]); r.starts[k/64]&(1<<(k%64)) == 0 {
			continue
		}
		if _, ok := r.runs[msg[i:i+minSecretRun]]; ok {
			mark(i, minSecretRun)
		}
	}
	for _, w := range r.whole {
		for i := 0; ; {
			j := strings.Index(msg[i:], w)
			if j < 0 {
				break
			}
			mark(i+j, len(w))
			i += j + 1
		}
	}
	return hide
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
