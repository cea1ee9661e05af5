package config

import (
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// secretKeyRE finds a key that names a secret (secretKeys) on a line of
// raw YAML: at the start of the line or after a space, a flow mapping's
// "{" or ",", a list's "-" or a complex key's "?"; plain or quoted; then
// a colon.
var secretKeyRE = regexp.MustCompile(`(?:^|[\s{,?-])(["']?)(secret_key_file|secret_key|endpoint|iam_endpoint|audit_endpoint|proxy_url)(["']?)[ \t]*:`)

// secretsInText calls found with each key that names a secret and every
// value it may have, read from the raw text of a YAML document without
// parsing it: the parser's own errors (an unknown anchor: a key starting
// with "*") may quote a secret the document holds, and a document that
// does not parse has no nodes to read. It recognises the value as YAML writes it
// in block and flow mappings: plain, single- or double-quoted (escapes
// undone, and as written), after an anchor or tag, a block scalar's
// lines, and an alias's anchored value. Where it cannot tell it reports
// several candidates: hiding a word too many is better than showing a
// secret.
func secretsInText(data []byte, found func(key, value string)) {
	text := string(data)
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		for _, m := range secretKeyRE.FindAllStringSubmatchIndex(line, -1) {
			open, key, closing := line[m[2]:m[3]], line[m[4]:m[5]], line[m[6]:m[7]]
			if open != closing {
				continue
			}
			rest := line[m[1]:]
			if open == "" && rest != "" && rest[0] != ' ' && rest[0] != '\t' && rest[0] != '\r' {
				continue // "key:value" is a plain scalar, not a key; "\"key\":value" is a key
			}
			flow := strings.ContainsAny(line[:m[0]+1], "{[")
			for _, v := range rawValues(text, lines, i, rest, flow, 0) {
				found(key, v)
			}
		}
	}
}

// rawValues returns the candidate values of a key on lines[i] whose value
// text starts rest; flow says the key is in a flow mapping. depth bounds
// following aliases.
func rawValues(text string, lines []string, i int, rest string, flow bool, depth int) []string {
	rest = strings.TrimLeft(strings.TrimRight(rest, "\r"), " \t")
	var out []string
	// As written, up to a comment (and a flow mapping's next entry),
	// properties included: an anchor or tag may itself be the secret.
	out = append(out, plainValue(rest, flow)...)
	for strings.HasPrefix(rest, "&") || strings.HasPrefix(rest, "!") {
		tok, after, _ := strings.Cut(rest, " ")
		out = append(out, tok[1:])
		rest = strings.TrimLeft(after, " \t")
	}
	switch {
	case strings.HasPrefix(rest, `"`):
		end := closingQuote(rest, '"')
		out = append(out, rest[1:end])
		var s string
		if end < len(rest) && yaml.Unmarshal([]byte(rest[:end+1]), &s) == nil {
			out = append(out, s)
		}
	case strings.HasPrefix(rest, "'"):
		end := closingQuote(rest, '\'')
		out = append(out, rest[1:end], strings.ReplaceAll(rest[1:end], "''", "'"))
	case rest == "" || rest[0] == '#' || rest[0] == '|' || rest[0] == '>':
		// A block scalar, or a value on the lines below: the lines
		// indented deeper than the key's.
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " \t"))
		for _, l := range lines[i+1:] {
			t := strings.TrimSpace(l)
			if t == "" {
				continue
			}
			if len(l)-len(strings.TrimLeft(l, " \t")) <= indent {
				break
			}
			out = append(out, t)
		}
	case strings.HasPrefix(rest, "*") && depth == 0:
		// An alias: the anchored value, when the anchor is in the text.
		name := rest[1:]
		if j := strings.IndexAny(name, " \t,[]{}#"); j >= 0 {
			name = name[:j]
		}
		for _, a := range anchorsNamed(text, name) {
			rest, _, _ := strings.Cut(text[a:], "\n")
			out = append(out, rawValues(text, lines, strings.Count(text[:a], "\n"), rest, flow, depth+1)...)
		}
	}
	return out
}

// plainValue is a value as written up to a comment; in a flow mapping,
// also up to its next entry.
func plainValue(rest string, flow bool) []string {
	if j := strings.Index(rest, " #"); j >= 0 {
		rest = rest[:j]
	}
	if j := strings.Index(rest, "\t#"); j >= 0 {
		rest = rest[:j]
	}
	rest = strings.TrimSpace(rest)
	cut := rest
	if j := strings.IndexAny(rest, ",}]"); j >= 0 {
		cut = strings.TrimSpace(rest[:j])
	}
	switch {
	case flow:
		return []string{cut}
	case cut != rest:
		return []string{rest, cut} // a flow mapping begun on a line above
	default:
		return []string{rest}
	}
}

// closingQuote returns the index of the quote closing s (which starts
// with q), or len(s) when it does not close on this line.
func closingQuote(s string, q byte) int {
	for j := 1; j < len(s); j++ {
		switch {
		case q == '"' && s[j] == '\\':
			j++
		case q == '\'' && s[j] == '\'' && j+1 < len(s) && s[j+1] == '\'':
			j++
		case s[j] == q:
			return j
		}
	}
	return len(s)
}

// anchorsNamed returns the offsets in text just after each "&name " that
// defines the anchor name: where its value starts.
func anchorsNamed(text, name string) []int {
	if name == "" {
		return nil
	}
	var out []int
	for at := 0; ; {
		j := strings.Index(text[at:], "&"+name)
		if j < 0 {
			return out
		}
		end := at + j + 1 + len(name)
		if end == len(text) || strings.ContainsRune(" \t\r\n", rune(text[end])) {
			out = append(out, end)
		}
		at = end
	}
}
