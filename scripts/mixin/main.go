package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

func main() {
	root := flag.String("root", "../..", "the repository's root directory")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "mixin:", err)
		os.Exit(1)
	}
}

// run formats the mixin's jsonnet files, writes every file the mixin makes
// under root, and removes the dashboards it no longer makes.
func run(root string) error {
	formatted, err := formatMixin(root)
	if err != nil {
		return err
	}
	for _, rel := range formatted {
		fmt.Println("formatted", rel)
	}
	files, err := generate(root, "")
	if err != nil {
		return err
	}
	old, err := stale(root, files)
	if err != nil {
		return err
	}
	for _, rel := range old {
		if err := os.Remove(filepath.Join(root, rel)); err != nil {
			return fmt.Errorf("remove %s: %w", rel, err)
		}
		fmt.Println("removed", rel)
	}
	for _, rel := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { //nolint:gosec // G301: a directory of the repository, readable by all as git checks it out
			return fmt.Errorf("write %s: %w", rel, err)
		}
		if err := os.WriteFile(path, files[rel], 0o644); err != nil { //nolint:gosec // G306: a checked-in file of the repository, readable by all
			return fmt.Errorf("write %s: %w", rel, err)
		}
		fmt.Println("wrote", rel)
	}
	return nil
}
