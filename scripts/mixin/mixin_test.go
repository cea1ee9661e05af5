package main

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository's root, seen from this module.
const root = "../.."

// The default job selector of the mixin's _config.
const defaultSelector = `job=~".*scp[-_]exporter.*"`

// TestCheckedInFilesAreWhatTheMixinMakes: every file the mixin makes is
// checked in as it makes it, and no dashboard it does not make is left in
// the directories it writes.
func TestCheckedInFilesAreWhatTheMixinMakes(t *testing.T) {
	files, err := generate(root, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{rulesFile, "charts/scp-exporter/files/scp_exporter.rules.yml", "dashboards/scp-image-sharing.json"} {
		if _, ok := files[rel]; !ok {
			t.Errorf("the mixin makes no %s", rel)
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(files)) {
		got, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Errorf("%s: %v: run make mixin", rel, err)
			continue
		}
		if !bytes.Equal(got, files[rel]) {
			t.Errorf("%s differs from what the mixin makes: run make mixin", rel)
		}
	}
	old, err := stale(root, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range old {
		t.Errorf("%s is no dashboard of the mixin: run make mixin (it removes it)", rel)
	}
}

// rule is one rule of a generated rules file.
type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// group is one group of a generated rules file.
type group struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval"`
	Rules    []rule `yaml:"rules"`
}

// rulesWith generates the rules file with override added to the mixin and
// decodes it strictly.
func rulesWith(t *testing.T, override string) ([]group, []byte) {
	t.Helper()
	files, err := generate(root, override)
	if err != nil {
		t.Fatal(err)
	}
	raw := files[rulesFile]
	var f struct {
		Groups []group `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("the rules file does not decode: %v", err)
	}
	return f.Groups, raw
}

// alerts returns the alerts of the groups by name.
func alerts(groups []group) map[string]rule {
	m := map[string]rule{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				m[r.Alert] = r
			}
		}
	}
	return m
}

// TestConfigChangesShowInOutput: a changed job selector is in every
// expression that selected the job and the default is in none; extra
// labels are on every alert (and those of a category on its alerts only);
// the runbook URL pattern makes every runbook_url; the hold, a for: and a
// threshold change where they are used.
func TestConfigChangesShowInOutput(t *testing.T) {
	defGroups, _ := rulesWith(t, "")
	def := alerts(defGroups)
	if len(def) < 15 {
		t.Fatalf("%d alerts with the defaults; the test reads the rules wrong", len(def))
	}
	var selecting []string
	for name, r := range def {
		if strings.Contains(r.Expr, defaultSelector) {
			selecting = append(selecting, name)
		}
	}
	if !slices.Contains(selecting, "SCPExporterDown") {
		t.Fatalf("SCPExporterDown does not select %s by default: %q", defaultSelector, def["SCPExporterDown"].Expr)
	}

	const override = `{
  _config+:: {
    scpExporterSelector: 'job="platform-scp", namespace="monitoring"',
    runbookURLPattern: 'https://runbooks.example.com/scp/%s.html',
    alertLabels: { team: 'platform' },
    categoryLabels+: { security+: { page: 'secops' } },
    holdDuration: '2h',
    alertFor+: { SCPExporterDown: '7m' },
    membersRefreshMaxAgeSeconds: 45 * 60,
    ruleGroupInterval: '30s',
  },
}`
	groups, raw := rulesWith(t, override)
	got := alerts(groups)
	if len(got) != len(def) {
		t.Fatalf("%d alerts with the override, %d with the defaults", len(got), len(def))
	}
	if bytes.Contains(raw, []byte(defaultSelector)) {
		t.Errorf("the default selector %s is still in the rules", defaultSelector)
	}
	for _, name := range selecting {
		if n := strings.Count(got[name].Expr, `{job="platform-scp", namespace="monitoring"}`); n != strings.Count(def[name].Expr, defaultSelector) {
			t.Errorf("%s selects the new job %d times, the default %d times: %q", name, n, strings.Count(def[name].Expr, defaultSelector), got[name].Expr)
		}
	}
	for name, r := range got {
		if r.Labels["team"] != "platform" {
			t.Errorf("%s has labels %v, want team=platform added", name, r.Labels)
		}
		if wantPage := r.Labels["category"] == "security"; (r.Labels["page"] == "secops") != wantPage {
			t.Errorf("%s (category %s) has labels %v: page=secops belongs to the security alerts only", name, r.Labels["category"], r.Labels)
		}
		if want := "https://runbooks.example.com/scp/" + strings.ToLower(name) + ".html"; r.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", name, r.Annotations["runbook_url"], want)
		}
		// The default labels and annotations are all still there.
		for k, v := range def[name].Labels {
			if r.Labels[k] != v {
				t.Errorf("%s: label %s=%q, want %q as by default", name, k, r.Labels[k], v)
			}
		}
	}
	for _, g := range groups {
		if g.Interval != "30s" {
			t.Errorf("group %s: interval %q, want 30s", g.Name, g.Interval)
		}
		for _, r := range g.Rules {
			if strings.Contains(r.Expr, "[1h") {
				t.Errorf("%s%s still holds for 1h: %q", r.Alert, r.Record, r.Expr)
			}
		}
	}
	if n := bytes.Count(raw, []byte("[2h")); n < bytes.Count(mustGenerate(t)[rulesFile], []byte("[1h")) {
		t.Errorf("[2h] is in the rules %d times, fewer than [1h] by default", n)
	}
	down := got["SCPExporterDown"]
	if down.For != "7m" || !strings.Contains(down.Annotations["description"], "for 7 minutes") {
		t.Errorf("SCPExporterDown: for %q, description %q; want 7m in both", down.For, down.Annotations["description"])
	}
	if !strings.Contains(down.Annotations["description"], `{job="platform-scp", namespace="monitoring"}`) {
		t.Errorf("SCPExporterDown's description does not name the selector: %q", down.Annotations["description"])
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Record == "scp:members_refresh_max_age_seconds" && r.Expr != "vector(45 * 60)" {
				t.Errorf("%s: %q, want vector(45 * 60)", r.Record, r.Expr)
			}
		}
	}
	promtoolCheck(t, raw)
}

// mustGenerate is generate with the defaults.
func mustGenerate(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := generate(root, "")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestBadConfigIsAnError: an alertFor entry that names no alert, or a knob
// left over in a text, fails the evaluation instead of going unnoticed.
func TestBadConfigIsAnError(t *testing.T) {
	for _, override := range []string{
		`{ _config+:: { alertFor+: { SCPExporterDonw: '5m' } } }`,
		`{ _config+:: { alertFor: { SCPExporterDown: '5m' } } }`,
	} {
		if _, err := generate(root, override); err == nil {
			t.Errorf("%s: no error", override)
		}
	}
}

// TestFoldedTextsReadBack: long texts with what folding must not break
// (double spaces, template actions, a leading space) read back unchanged.
func TestFoldedTextsReadBack(t *testing.T) {
	long := strings.TrimSpace(strings.Repeat("word ", 30))
	texts := []string{
		long + " two  spaces " + long,
		" leading space " + long,
		long + " {{ with printf `x{a=%q}` $labels.a | query }} " + long + " trailing ",
		strings.Repeat("x", 150) + " " + strings.Repeat("y", 150),
		"line one\nline two " + long,
	}
	for _, s := range texts {
		groups := []map[string]any{{"name": "g", "rules": []any{map[string]any{
			"alert": "A", "expr": "up == 0", "annotations": map[string]any{"description": s},
		}}}}
		out, err := encodeRules(groups)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if !strings.Contains(string(out), "description: >-") {
			continue // not folded: quoted or a literal block, on purpose
		}
		for _, line := range strings.Split(string(out), "\n") {
			if len(line) > wrapAt && strings.Contains(strings.TrimSpace(line), " ") && !strings.Contains(line, "{{") {
				t.Errorf("%q: line of %d characters: %q", s, len(line), line)
			}
		}
	}
}

// promtoolCheck runs promtool check rules on raw: it must accept every
// expression and template.
func promtoolCheck(t *testing.T, raw []byte) {
	t.Helper()
	promtool := promtoolPath(t, "check rules")
	if promtool == "" {
		return
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}

// promtoolPath returns promtool's path, or "" (after saying that check is
// skipped) when it is not installed; under CI a missing promtool fails.
func promtoolPath(t *testing.T, check string) string {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		msg := "promtool not found in PATH; install it with: apt-get install -y prometheus"
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must not skip this check: %s", msg)
		}
		t.Logf("skipping promtool %s: %s", check, msg)
		return ""
	}
	return promtool
}

// TestMixinIsFormatted: every jsonnet file of the mixin is as jsonnetfmt
// (go-jsonnet's formatter, default options) writes it.
func TestMixinIsFormatted(t *testing.T) {
	files, err := jsonnetFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("%d jsonnet files in %s; the test looks in the wrong place", len(files), mixinDir)
	}
	for _, rel := range files {
		src, out, err := formatJsonnet(root, rel)
		if err != nil {
			t.Error(err)
		} else if out != src {
			t.Errorf("%s is not formatted as jsonnetfmt does: run make mixin", rel)
		}
	}
}

// TestAlertsReadOnlyTheRecordingGroup: the recording rules are all in the
// first group, which records nothing else, and every recorded series an
// alert reads (in its expression or its texts) is recorded there, so that
// any alert group can be left out and none is left without its rules.
func TestAlertsReadOnlyTheRecordingGroup(t *testing.T) {
	groups, _ := rulesWith(t, "")
	if groups[0].Name != "scp-exporter-recording" {
		t.Fatalf("the first group is %s, want scp-exporter-recording", groups[0].Name)
	}
	recorded := map[string]bool{}
	for _, r := range groups[0].Rules {
		if r.Record == "" {
			t.Errorf("alert %s is in the recording group", r.Alert)
		}
		recorded[r.Record] = true
	}
	name := regexp.MustCompile(`scp:[a-z_:]+[a-z_]`)
	var read int
	for _, g := range groups[1:] {
		for _, r := range g.Rules {
			if r.Record != "" {
				t.Errorf("group %s records %s: recording rules belong in the first group", g.Name, r.Record)
			}
			texts := []string{r.Expr}
			for _, v := range r.Annotations {
				texts = append(texts, v)
			}
			for _, s := range texts {
				for _, n := range name.FindAllString(s, -1) {
					read++
					if !recorded[n] {
						t.Errorf("%s (group %s) reads %s, which the recording group does not record", r.Alert, g.Name, n)
					}
				}
			}
		}
	}
	if read < 10 {
		t.Fatalf("the alerts read %d recorded series; the test reads them wrong", read)
	}
}
