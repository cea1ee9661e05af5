package config

import (
	"fmt"
	"path/filepath"

	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
)

// readLists resolves the paths of the list files against dir and, with
// read, reads each once: a file missing, unreadable or malformed (a name
// that r finds a piece of a secret in included) is then a config error (so
// --config.check finds a typo). A running exporter leaves the files to its
// watchers (package trustlist), which keep the last good list.
func (c *Config) readLists(dir string, read bool, r *Redactor) []error {
	c.lists = map[string]trustlist.List{}
	check := func(name string) error {
		if r.Holds(name) {
			return fmt.Errorf("the name contains a piece of a secret key (%d or more of its characters in a row); /metrics would show it as a label value: choose another name", minSecretRun)
		}
		return nil
	}
	tried := map[string]error{}
	var errs []error
	do := func(field string, path *string) {
		if *path == "" {
			return
		}
		if !filepath.IsAbs(*path) {
			*path = filepath.Join(dir, *path)
		}
		if !read {
			return
		}
		err, done := tried[*path]
		if !done {
			var l trustlist.List
			l, err = trustlist.ReadFile(*path, check)
			tried[*path] = err
			if err == nil {
				c.lists[*path] = l
			}
		}
		if err == nil {
			return
		}
		// One problem a line: each malformed line of the file is one.
		list := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			list = j.Unwrap()
		}
		for _, e := range list {
			errs = append(errs, fmt.Errorf("%s: %w", field, e))
		}
	}
	do("expected_members_file", &c.ExpectedMembersFile)
	do("expected_image_owners_file", &c.ExpectedImageOwnersFile)
	for i := range c.Accounts {
		if c.single {
			break
		}
		a := &c.Accounts[i]
		do(fmt.Sprintf("accounts[%d].expected_members_file", i), &a.ExpectedMembersFile)
		do(fmt.Sprintf("accounts[%d].expected_image_owners_file", i), &a.ExpectedImageOwnersFile)
	}
	return errs
}

// nonEmpty returns the paths that are set, in order; nil when none is.
func nonEmpty(paths ...string) []string {
	var out []string
	for _, p := range paths {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// setOf returns the union of lists as a set.
func setOf(lists ...[]string) map[string]bool {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	set := make(map[string]bool, n)
	for _, l := range lists {
		for _, v := range l {
			set[v] = true
		}
	}
	return set
}
