package config

import (
	"fmt"
	"maps"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/scp"
)

// ExpectedAccount is one entry of expected_members or
// expected_image_owners: an account ID, written either as the ID alone or
// as a mapping {id: <ID>, name: <name>} that gives it a name to show
// (scp_expected_member_info, scp_expected_image_owner_info).
type ExpectedAccount struct {
	ID   string
	Name string // "" when none is given

	// mapping and named say how the entry was written; problems are what
	// its decoding found (an unknown key, a missing id), reported by
	// validation with the entry's path.
	mapping  bool
	named    bool
	problems []entryProblem
}

// entryProblem is what is wrong with an entry as written: at line, in its
// key (none: the entry itself).
type entryProblem struct {
	line     int
	key, msg string
}

// UnmarshalYAML accepts a scalar (the ID) or a mapping of id and name. A
// malformed entry is kept with its problems, so that the rest of the file
// is still checked and every problem named with its line.
func (e *ExpectedAccount) UnmarshalYAML(n *yaml.Node) error {
	*e = ExpectedAccount{}
	switch n.Kind {
	case yaml.ScalarNode:
		e.ID = scalar(n)
	case yaml.MappingNode:
		e.mapping = true
		hasID := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			var dst *string
			switch k.Value {
			case "id":
				dst, hasID = &e.ID, true
			case "name":
				dst, e.named = &e.Name, true
			default:
				e.problems = append(e.problems, entryProblem{k.Line, k.Value, "unknown field (an entry has id and name)"})
				continue
			}
			if v.Kind != yaml.ScalarNode {
				e.problems = append(e.problems, entryProblem{v.Line, k.Value, "must be text"})
				continue
			}
			*dst = scalar(v)
		}
		if !hasID {
			e.problems = append(e.problems, entryProblem{n.Line, "", "missing id (an entry is an account ID, or a mapping of id and name)"})
		}
	default:
		e.problems = append(e.problems, entryProblem{n.Line, "", "must be an account ID, or a mapping of id and name"})
	}
	return nil
}

// scalar is a scalar node's value as text; "" for null ("~", "null" or
// nothing), as a string field decodes it.
func scalar(n *yaml.Node) string {
	if n.ShortTag() == "!!null" {
		return ""
	}
	return n.Value
}

// ids returns the IDs of list, in order.
func ids(list []ExpectedAccount) []string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.ID
	}
	return out
}

// validateExpected checks the entries of one list; field names it.
func validateExpected(field string, list []ExpectedAccount) []error {
	var errs []error
	for i, e := range list {
		at := fmt.Sprintf("%s[%d]", field, i)
		if len(e.problems) > 0 {
			for _, p := range e.problems {
				path := at
				if p.key != "" {
					path += "." + p.key
				}
				errs = append(errs, fmt.Errorf("line %d: %s: %s", p.line, path, p.msg))
			}
			continue
		}
		if err := scp.ValidateMemberID(e.ID); err != nil {
			idAt := at
			if e.mapping {
				idAt += ".id"
			}
			errs = append(errs, fmt.Errorf("%s: %w", idAt, err))
		}
		if e.named {
			if err := trustlist.ValidateName(e.Name); err != nil {
				errs = append(errs, fmt.Errorf("%s.name: %w", at, err))
			}
		}
	}
	return errs
}

// checkNames refuses an account ID given two different names in the lists
// that apply to one account: for members the top level's, the account's
// and its images' expected_members; for owners the top level's and the
// account's expected_image_owners. The error names both places. Entries
// without a name, or with the same one, agree with any.
func (c *Config) checkNames() []error {
	var errs []error
	reported := map[string]bool{} // a conflict within the top level is the same for every account
	check := func(lists []namedList) {
		first := map[string]string{} // ID -> where it was first named
		name := map[string]string{}
		for _, l := range lists {
			for i, e := range l.list {
				if e.Name == "" || len(e.problems) > 0 || trustlist.ValidateName(e.Name) != nil {
					continue // no name, or one refused already
				}
				at := fmt.Sprintf("%s[%d]", l.field, i)
				switch prev, ok := name[e.ID]; {
				case !ok:
					first[e.ID], name[e.ID] = at, e.Name
				case prev != e.Name:
					err := fmt.Errorf("%s.name: account %s is named differently at %s: give it one name", at, e.ID, first[e.ID])
					if !reported[err.Error()] {
						reported[err.Error()] = true
						errs = append(errs, err)
					}
				}
			}
		}
	}
	for i, a := range c.Accounts {
		prefix := ""
		members := []namedList{{"expected_members", c.ExpectedMembers}}
		owners := []namedList{{"expected_image_owners", c.ExpectedImageOwners}}
		if !c.single {
			prefix = fmt.Sprintf("accounts[%d].", i)
			members = append(members, namedList{prefix + "expected_members", a.ExpectedMembers})
			owners = append(owners, namedList{prefix + "expected_image_owners", a.ExpectedImageOwners})
		}
		for j, img := range a.Images {
			members = append(members, namedList{fmt.Sprintf("%simages[%d].expected_members", prefix, j), img.ExpectedMembers})
		}
		check(members)
		check(owners)
	}
	return errs
}

// namedList is one list of expected accounts and its field's path.
type namedList struct {
	field string
	list  []ExpectedAccount
}

// Named is an account ID of an expected list in use and the name given to
// it ("" when none).
type Named struct {
	ID, Name string
}

// namedOf returns every ID of the inline lists and of the list files
// (lists gives each file's list in use; nil: none), sorted, each with its
// name: the config's (its lists agree, as Load checks), else that of the
// last of files to name it (the account's file before the top level's).
func namedOf(inline [][]ExpectedAccount, files []string, lists func(path string) trustlist.List) []Named {
	all := map[string]string{}
	for _, path := range files {
		if lists == nil {
			break
		}
		l := lists(path)
		for _, id := range l.IDs {
			if name, ok := l.Names[id]; ok {
				all[id] = name
			} else if _, ok := all[id]; !ok {
				all[id] = ""
			}
		}
	}
	for _, l := range inline {
		for _, e := range l {
			// The config's name wins; an entry without one leaves a file's.
			if _, ok := all[e.ID]; !ok || e.Name != "" {
				all[e.ID] = e.Name
			}
		}
	}
	out := make([]Named, 0, len(all))
	for _, id := range slices.Sorted(maps.Keys(all)) {
		out = append(out, Named{ID: id, Name: all[id]})
	}
	return out
}
