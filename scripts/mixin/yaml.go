package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The order of the keys of a rule group and of a rule, as Prometheus'
// documentation writes them; keys not listed follow in sorted order.
var (
	groupKeys      = []string{"name", "interval", "query_offset", "limit", "labels", "rules"}
	ruleKeys       = []string{"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
	annotationKeys = []string{"runbook_url", "summary", "description"}
)

// A one-line string longer than foldAbove with a space in it is written
// folded (>-), in lines that end before column wrapAt where its words allow,
// as the hand-written rules did with long texts.
const (
	foldAbove = 80
	wrapAt    = 100
)

// encodeRules writes the rule groups as a Prometheus rules file: block
// style, two spaces of indentation, keys in a fixed order, multi-line
// strings (expressions) as literal blocks and long texts folded. The result
// is checked to read back as the groups.
func encodeRules(groups []map[string]any) ([]byte, error) {
	gs := &yaml.Node{Kind: yaml.SequenceNode}
	for _, g := range groups {
		rules, _ := g["rules"].([]any)
		rs := &yaml.Node{Kind: yaml.SequenceNode}
		for _, r := range rules {
			rm, ok := r.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("group %v: a rule is not an object: %v", g["name"], r)
			}
			rs.Content = append(rs.Content, mapping(rm, ruleKeys, func(k string, v any) *yaml.Node {
				switch k {
				case "labels":
					return mapping(v, nil, nil)
				case "annotations":
					return mapping(v, annotationKeys, nil)
				}
				return nil
			}))
		}
		gs.Content = append(gs.Content, mapping(g, groupKeys, func(k string, _ any) *yaml.Node {
			if k == "rules" {
				return rs
			}
			return nil
		}))
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{scalar("groups"), gs}}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode the rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode the rules: %w", err)
	}
	text := wrapFolded(b.Bytes())
	// What was written must read back as what the mixin made.
	var back, want any
	if err := yaml.Unmarshal(text, &back); err != nil {
		return nil, fmt.Errorf("the encoded rules do not read back: %w", err)
	}
	raw, err := json.Marshal(map[string]any{"groups": groups})
	if err != nil {
		return nil, fmt.Errorf("encode the rules: %w", err)
	}
	if err := yaml.Unmarshal(raw, &want); err != nil {
		return nil, fmt.Errorf("encode the rules: %w", err)
	}
	if !reflect.DeepEqual(back, want) {
		return nil, fmt.Errorf("the encoded rules read back differently from what the mixin made")
	}
	return text, nil
}

// wrapFolded breaks the one line of each folded (>-) scalar in text, which
// the encoder writes unbroken, into lines that end before column wrapAt. It
// breaks only at a single space between two other characters: in a folded
// scalar such a line break reads as that space again; and never inside a
// template action ({{ ... }}), which reads best on one line.
func wrapFolded(text []byte) []byte {
	lines := strings.SplitAfter(string(text), "\n")
	var out strings.Builder
	for i := 0; i < len(lines); i++ {
		out.WriteString(lines[i])
		if !strings.HasSuffix(lines[i], ">-\n") || i+1 == len(lines) {
			continue
		}
		i++
		line := strings.TrimSuffix(lines[i], "\n")
		indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
		rest := line[len(indent):]
		for len(indent)+len(rest) >= wrapAt {
			cut, depth := -1, 0
			for j := 0; j < len(rest)-1; j++ {
				switch {
				case strings.HasPrefix(rest[j:], "{{"):
					depth++
				case strings.HasPrefix(rest[j:], "}}"):
					depth--
				case depth == 0 && j > 0 && rest[j] == ' ' && rest[j-1] != ' ' && rest[j+1] != ' ':
					if cut > 0 && len(indent)+j >= wrapAt {
						j = len(rest)
						continue
					}
					cut = j
				}
			}
			if cut < 0 {
				break
			}
			out.WriteString(indent + rest[:cut] + "\n")
			rest = rest[cut+1:]
		}
		out.WriteString(indent + rest + "\n")
	}
	return []byte(out.String())
}

// mapping makes a block mapping of m (a JSON object) with the keys of order
// first, then the others sorted. child, when it returns a node for a key,
// gives that key's value; otherwise values are scalars or, for objects and
// arrays, nested nodes in sorted order.
func mapping(m any, order []string, child func(string, any) *yaml.Node) *yaml.Node {
	obj, _ := m.(map[string]any)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		ia, ib := slices.Index(order, a), slices.Index(order, b)
		switch {
		case ia >= 0 && ib >= 0:
			return ia - ib
		case ia >= 0:
			return -1
		case ib >= 0:
			return 1
		}
		return strings.Compare(a, b)
	})
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range keys {
		var v *yaml.Node
		if child != nil {
			v = child(k, obj[k])
		}
		if v == nil {
			v = value(obj[k])
		}
		n.Content = append(n.Content, scalar(k), v)
	}
	return n
}

// value makes the node of a JSON value.
func value(v any) *yaml.Node {
	switch x := v.(type) {
	case string:
		n := scalar(x)
		switch {
		case strings.Contains(x, "\n"):
			n.Style = yaml.LiteralStyle
		case len(x) > foldAbove && strings.Contains(x, " "):
			n.Style = yaml.FoldedStyle
		}
		return n
	case map[string]any:
		return mapping(x, nil, nil)
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range x {
			n.Content = append(n.Content, value(e))
		}
		return n
	case json.Number:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: x.String()}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x)}
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	return scalar(fmt.Sprint(v))
}

// scalar makes a string node; the encoder quotes it where plain text would
// read as something else.
func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}
