// Package main is the generator of the scp_exporter monitoring mixin: it
// evaluates mixin/mixin.libsonnet with go-jsonnet and writes the files the
// repository keeps checked in for those who do not use jsonnet (the rules
// file, the dashboards, and the Helm chart's copies of both). `make mixin`
// runs it; its tests fail when a checked-in file is not what the mixin makes.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/formatter"
)

// Where the generated files go, relative to the repository root.
const (
	mixinDir      = "mixin"
	rulesFile     = "alerts/scp_exporter.rules.yml"
	dashboardsDir = "dashboards"
	chartFilesDir = "charts/scp-exporter/files"
)

// rulesHeader heads the generated rules file.
const rulesHeader = `# Recording rules and alerts of scp_exporter, for Prometheus' rule_files.
# Generated from mixin/ (the monitoring mixin) by ` + "`make mixin`" + `: do not edit;
# change mixin/ (its _config holds the job selector, runbook URL, extra
# labels, thresholds and for: durations) and run make mixin. The comments
# that explain each rule are in mixin/rules/ and mixin/alerts/.
#
# Load every group: the alerts read the recording rules of the first one.
`

// output is what one evaluation of the mixin gives: the rule groups
// (recording rules first, then alerts) and the dashboards by file name.
type output struct {
	Groups     []map[string]any           `json:"groups"`
	Dashboards map[string]json.RawMessage `json:"dashboards"`
}

// evaluate evaluates the mixin under root/mixin, with override (jsonnet
// object text, such as `{ _config+:: {...} }`, or "" for none) added to it.
func evaluate(root, override string) (output, error) {
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{filepath.Join(root, mixinDir)}})
	if override == "" {
		override = "{}"
	}
	snippet := `local m = (import 'mixin.libsonnet') + (` + override + `);
{
  groups: m.prometheusRules.groups + m.prometheusAlerts.groups,
  dashboards: m.grafanaDashboards,
}`
	js, err := vm.EvaluateAnonymousSnippet("generate.jsonnet", snippet)
	if err != nil {
		return output{}, fmt.Errorf("evaluate the mixin: %w", err)
	}
	var out output
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return output{}, fmt.Errorf("decode the mixin's output: %w", err)
	}
	return out, nil
}

// generate returns every file the mixin makes, by path relative to root,
// with override added to the mixin as in evaluate.
func generate(root, override string) (map[string][]byte, error) {
	out, err := evaluate(root, override)
	if err != nil {
		return nil, err
	}
	if len(out.Groups) == 0 {
		return nil, fmt.Errorf("the mixin has no rule groups")
	}
	rules, err := encodeRules(out.Groups)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		rulesFile: append([]byte(rulesHeader), rules...),
	}
	files[filepath.Join(chartFilesDir, filepath.Base(rulesFile))] = files[rulesFile]
	for name, raw := range out.Dashboards {
		if name != filepath.Base(name) || !strings.HasSuffix(name, ".json") {
			return nil, fmt.Errorf("dashboard %q: want a file name ending in .json", name)
		}
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		b.WriteByte('\n')
		files[filepath.Join(dashboardsDir, name)] = b.Bytes()
		files[filepath.Join(chartFilesDir, name)] = b.Bytes()
	}
	return files, nil
}

// stale lists the dashboards (*.json) in the directories the generator
// writes that it no longer makes, relative to root.
func stale(root string, files map[string][]byte) ([]string, error) {
	var old []string
	for _, dir := range []string{dashboardsDir, chartFilesDir} {
		matches, err := filepath.Glob(filepath.Join(root, dir, "*.json"))
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		for _, m := range matches {
			rel, err := filepath.Rel(root, m)
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", dir, err)
			}
			if _, ok := files[rel]; !ok {
				old = append(old, rel)
			}
		}
	}
	slices.Sort(old)
	return old, nil
}

// jsonnetFiles lists the jsonnet files of the mixin, relative to root.
func jsonnetFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, mixinDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(path, ".libsonnet") && !strings.HasSuffix(path, ".jsonnet")) {
			return err
		}
		rel, err := filepath.Rel(root, path)
		files = append(files, rel)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list the mixin's files: %w", err)
	}
	return files, nil
}

// formatJsonnet returns the file's text as jsonnetfmt (default options)
// writes it.
func formatJsonnet(root, rel string) (src, formatted string, err error) {
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return "", "", fmt.Errorf("format %s: %w", rel, err)
	}
	out, err := formatter.Format(rel, string(b), formatter.DefaultOptions())
	if err != nil {
		return "", "", fmt.Errorf("format %s: %w", rel, err)
	}
	return string(b), out, nil
}

// formatMixin formats every jsonnet file of the mixin in place and returns
// those it changed.
func formatMixin(root string) ([]string, error) {
	files, err := jsonnetFiles(root)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, rel := range files {
		src, out, err := formatJsonnet(root, rel)
		if err != nil {
			return nil, err
		}
		if out != src {
			if err := os.WriteFile(filepath.Join(root, rel), []byte(out), 0o644); err != nil { //nolint:gosec // G306: a checked-in file of the repository, readable by all
				return nil, fmt.Errorf("format %s: %w", rel, err)
			}
			changed = append(changed, rel)
		}
	}
	return changed, nil
}
