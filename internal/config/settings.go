package config

import "github.com/scp-exporter/scp_exporter/internal/account/trustlist"

// Settings is one account as its runtime needs it: the account's own
// fields with what the top level gives every account folded in, and every
// duration derived (Timing). Settings of an unchanged account compare equal
// with reflect.DeepEqual across two loads of the same file.
//
// Settings share their slices with the Config they came from: like it,
// they are read, never changed.
type Settings struct {
	Name      string // "" in the single-account form
	SCP       SCP
	Images    []Image
	Discovery Discovery
	Members   Members
	Audit     Audit
	// Inline lists: the top level's, then the account's.
	ExpectedMembers     []ExpectedAccount
	ExpectedImageOwners []ExpectedAccount
	// List files that apply: the top level's, then the account's; paths as resolved by Load; no empty ones.
	ExpectedMembersFiles     []string
	ExpectedImageOwnersFiles []string
	// MaxMembers is the default limit of the account's images (the account's max_members, else the top level's; 0 none).
	MaxMembers int
	// AllowedVisibility is the default for images without their own (the top level's, else DefaultAllowedVisibility).
	AllowedVisibility []string
	Timing            Timing
}

// Settings returns one Settings per account, in config order.
func (c *Config) Settings() []Settings {
	out := make([]Settings, len(c.Accounts))
	for i := range c.Accounts {
		out[i] = c.settingsOf(&c.Accounts[i])
	}
	return out
}

// settingsOf folds the top level into account a, one of c.Accounts.
func (c *Config) settingsOf(a *Account) Settings {
	maxMembers := c.MaxMembers
	if a.MaxMembers != nil {
		maxMembers = *a.MaxMembers
	}
	return Settings{
		Name:                     a.Name,
		SCP:                      a.SCP,
		Images:                   a.Images,
		Discovery:                a.Discovery,
		Members:                  *a.Members,
		Audit:                    *a.Audit,
		ExpectedMembers:          concat(c.ExpectedMembers, a.ExpectedMembers),
		ExpectedImageOwners:      concat(c.ExpectedImageOwners, a.ExpectedImageOwners),
		ExpectedMembersFiles:     nonEmpty(c.ExpectedMembersFile, a.ExpectedMembersFile),
		ExpectedImageOwnersFiles: nonEmpty(c.ExpectedImageOwnersFile, a.ExpectedImageOwnersFile),
		MaxMembers:               maxMembers,
		AllowedVisibility:        c.allowedVisibility(),
		Timing:                   timingOf(c.ScrapeTimeout, a),
	}
}

// allowedVisibility is the top level's allowed_visibility, else the default.
func (c *Config) allowedVisibility() []string {
	if c.AllowedVisibility != nil {
		return c.AllowedVisibility
	}
	return DefaultAllowedVisibility
}

// Expected is the set of accounts img (an image of this account; Image{}
// for a discovered one) may be shared with: the inline lists, img's own,
// and the IDs lists returns for each members list file (lists is called
// with the paths in ExpectedMembersFiles; e.g. a lookup of the files'
// watchers, so an edited file counts without a reload). A nil lists
// counts no file.
func (s *Settings) Expected(img Image, lists func(path string) trustlist.List) map[string]bool {
	return setOf(append([][]string{ids(s.ExpectedMembers), ids(img.ExpectedMembers)}, filesOf(lists, s.ExpectedMembersFiles)...)...)
}

// ExpectedOwners is the set of accounts whose images offered to or
// accepted by this account are expected (inline lists and owners list
// files; lists as for Expected).
func (s *Settings) ExpectedOwners(lists func(path string) trustlist.List) map[string]bool {
	return setOf(append([][]string{ids(s.ExpectedImageOwners)}, filesOf(lists, s.ExpectedImageOwnersFiles)...)...)
}

// NamedMembers are the account IDs of every expected-members list of the
// account in use — the inline lists, every configured image's own and the
// members list files (lists as for Expected) — sorted, each with the name
// given to it: the config's, else the account's list file's, else the top
// level's; "" when none.
func (s *Settings) NamedMembers(lists func(path string) trustlist.List) []Named {
	inline := [][]ExpectedAccount{s.ExpectedMembers}
	for _, img := range s.Images {
		inline = append(inline, img.ExpectedMembers)
	}
	return namedOf(inline, s.ExpectedMembersFiles, lists)
}

// NamedOwners are the account IDs of the expected image owners in use
// (inline lists and owners list files), sorted, each with its name as for
// NamedMembers.
func (s *Settings) NamedOwners(lists func(path string) trustlist.List) []Named {
	return namedOf([][]ExpectedAccount{s.ExpectedImageOwners}, s.ExpectedImageOwnersFiles, lists)
}

// MaxMembersOf is img's limit: its own max_members, else s.MaxMembers.
// 0 is no limit; an image's own 0 lifts the account's.
func (s *Settings) MaxMembersOf(img Image) int {
	if img.MaxMembers != nil {
		return *img.MaxMembers
	}
	return s.MaxMembers
}

// AllowedVisibilityOf is img's own allowed_visibility, else
// s.AllowedVisibility, as a set.
func (s *Settings) AllowedVisibilityOf(img Image) map[string]bool {
	if img.AllowedVisibility != nil {
		return setOf(img.AllowedVisibility)
	}
	return setOf(s.AllowedVisibility)
}

// filesOf returns the IDs lists gives for each path.
func filesOf(lists func(path string) trustlist.List, paths []string) [][]string {
	if lists == nil {
		return nil
	}
	out := make([][]string, len(paths))
	for i, p := range paths {
		out[i] = lists(p).IDs
	}
	return out
}

// concat returns a followed by b in a slice of its own (nil when both are
// empty), so that no two accounts' Settings share an array to append to.
func concat[T any](a, b []T) []T {
	if len(a)+len(b) == 0 {
		return nil
	}
	return append(append(make([]T, 0, len(a)+len(b)), a...), b...)
}
