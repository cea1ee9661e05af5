package config

import "github.com/scp-exporter/scp_exporter/internal/account/trustlist"

// Parse is Load on a document without a file: relative paths are taken
// from dir, and the list files are read.
func Parse(data []byte, dir string, getenv func(string) string) (*Config, error) {
	return parse(data, dir, getenv, false)
}

// FileList returns the list Load read from the list file at path (as Load
// resolved it), or an empty one for a file it did not read. As the lists
// argument of Settings.Expected it gives what a watcher would after its
// first read.
func (c *Config) FileList(path string) trustlist.List { return c.lists[path] }
