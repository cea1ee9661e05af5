package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	lineRE         = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type [\w.]+$`)
	cannotRE       = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// typeErrors turns the YAML library's type errors into the user's words:
// each names its line and the field's path (scp.max_retries, images[2].id)
// and says what the field takes, never a Go type.
func typeErrors(te *yaml.TypeError, data []byte) []error {
	paths := pathsOf(data)
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		m := lineRE.FindStringSubmatch(msg)
		if m == nil {
			errs = append(errs, errors.New(msg))
			continue
		}
		line, _ := strconv.Atoi(m[1])
		text := m[2]
		switch {
		case unknownFieldRE.MatchString(text):
			key := unknownFieldRE.FindStringSubmatch(text)[1]
			errs = append(errs, fmt.Errorf("line %d: %s: unknown field", line, paths.find(line, key, true)))
			continue
		case cannotRE.MatchString(text):
			c := cannotRE.FindStringSubmatch(text)
			if c[1] == "map" || c[1] == "seq" {
				text = "a " + map[string]string{"map": "mapping", "seq": "list"}[c[1]] + " is not " + expected(c[3])
				break
			}
			// The library cuts long values short ("abcdefg..."): show the
			// value as written.
			p := paths.value(line, c[2])
			errs = append(errs, fmt.Errorf("line %d: %s: %q is not %s", line, p.path, p.value, expected(c[3])))
			continue
		}
		errs = append(errs, fmt.Errorf("line %d: %s: %s", line, paths.find(line, "", false), text))
	}
	return errs
}

// expected says in words what a field of Go type t takes.
func expected(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "config."), strings.HasPrefix(t, "*config."):
		return "a mapping of settings"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "*int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	case t == "string", t == "config.Secret":
		return "text"
	}
	return "of the right type"
}

// fieldPath is one key or value of the document and where it is.
type fieldPath struct {
	line  int
	path  string
	key   string // the mapping key, for a key
	value string // the scalar value, for a value
}

type fieldPaths []fieldPath

// pathsOf lists every key and scalar value of the document with its path,
// in document order.
func pathsOf(data []byte) fieldPaths {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil
	}
	var out fieldPaths
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				out = append(out, fieldPath{line: k.Line, path: p, key: k.Value})
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.ScalarNode, yaml.AliasNode:
			out = append(out, fieldPath{line: n.Line, path: path, value: n.Value})
		}
	}
	walk(&root, "")
	return out
}

// value returns the scalar on line whose value is quoted (as the YAML
// library quotes it: cut short with "..." when long); failing that, the
// first thing on the line with the quote as its value.
func (fp fieldPaths) value(line int, quoted string) fieldPath {
	prefix, cut := strings.CutSuffix(quoted, "...")
	for _, p := range fp {
		if p.line == line && p.key == "" && (p.value == quoted || cut && strings.HasPrefix(p.value, prefix)) {
			return p
		}
	}
	return fieldPath{path: fp.find(line, "", false), value: quoted}
}

// find returns the path of what is on line: the key named s (isKey), or
// the value s; failing that, the first thing on the line.
func (fp fieldPaths) find(line int, s string, isKey bool) string {
	first := ""
	for _, p := range fp {
		if p.line != line {
			continue
		}
		if (isKey && p.key == s) || (!isKey && s != "" && p.value == s) {
			return p.path
		}
		if first == "" {
			first = p.path
		}
	}
	if first == "" {
		return "(document)"
	}
	return first
}

// atLine names the line of a validation error's field: "path: problem"
// becomes "line N: path: problem" when the document has path (a key, or
// an item of a list). An error that has its line already, or whose field
// is not in the document (a missing key), is returned as is.
func (fp fieldPaths) atLine(err error) error {
	msg := err.Error()
	if lineRE.MatchString(msg) {
		return err
	}
	path, _, ok := strings.Cut(msg, ": ")
	if !ok {
		return err
	}
	for _, p := range fp {
		if p.path == path {
			return fmt.Errorf("line %d: %w", p.line, err)
		}
	}
	return err
}
