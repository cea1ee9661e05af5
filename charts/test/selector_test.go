package charttest

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// mixinExporterSelector is the mixin's default scpExporterSelector, as the
// rules file carries it.
const mixinExporterSelector = `job=~".*scp[-_]exporter.*"`

// TestExporterSelector: prometheusRule.exporterSelector replaces every
// occurrence of the mixin's default exporter selector in the rules the
// chart renders (unchanged file or re-encoded after a switch), and nothing
// else: SCPExporterDown's expression and its description, which names the
// selector in the same words, so that its text never names the default
// the alert no longer reads; empty keeps the file as it is; a value that
// would break the selector fails the schema.
func TestExporterSelector(t *testing.T) {
	raw, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(string(raw), mixinExporterSelector)
	if n < 3 {
		t.Fatalf("%s holds %s %d times, want at least 3 (SCPExporterDown's up and absent, and its description)", rulesPath, mixinExporterSelector, n)
	}
	// In a values file: --set splits at the comma.
	const sel = `job="scp-prod",namespace="monitoring"`
	dir := t.TempDir()
	writeFile(t, dir, "values.yaml", "prometheusRule:\n  exporterSelector: '"+sel+"'\n")
	for name, args := range map[string][]string{
		"file as it is":     nil,
		"re-encoded":        {"--set", "prometheusRule.disabledAlerts.SCPAPIVersionSupportEnding=true"},
		"labels re-encoded": {"--set", "prometheusRule.additionalRuleLabels.team=security"},
	} {
		out, err := runHelm(t, append([]string{"template", "scp", chartDir, "--show-only", "templates/prometheusrule.yaml",
			"--set", "prometheusRule.enabled=true", "-f", filepath.Join(dir, "values.yaml")}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		pr := one(t, "PrometheusRule", decodeAll(t, out).PrometheusRules)
		var texts strings.Builder
		down := false
		for _, g := range pr.Spec.Groups {
			for _, r := range g.Rules {
				texts.WriteString(r.Expr.String() + "\n")
				for _, a := range r.Annotations {
					texts.WriteString(a + "\n")
				}
				if r.Alert != "SCPExporterDown" {
					continue
				}
				down = true
				if strings.Count(r.Expr.String(), "up{"+sel+"}") != 2 {
					t.Errorf("%s: SCPExporterDown's expression does not select up{%s} twice:\n%s", name, sel, r.Expr.String())
				}
				if d := r.Annotations["description"]; !strings.Contains(d, "{"+sel+"}") {
					t.Errorf("%s: SCPExporterDown's description does not name {%s}:\n%s", name, sel, d)
				}
			}
		}
		if !down {
			t.Errorf("%s: the rendered rules have no SCPExporterDown", name)
		}
		if strings.Contains(out, mixinExporterSelector) {
			t.Errorf("%s: the rendered rules still hold %s", name, mixinExporterSelector)
		}
		if got := strings.Count(texts.String(), sel); got != n {
			t.Errorf("%s: the expressions and annotations hold %s %d times, want %d (each place of the default)", name, sel, got, n)
		}
	}
	out, err := runHelm(t, "template", "scp", chartDir, "--show-only", "templates/prometheusrule.yaml", "--set", "prometheusRule.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out, mixinExporterSelector); got != n {
		t.Errorf("exporterSelector empty: the rules hold the default %d times, want %d", got, n)
	}
	for _, bad := range []string{`job="a"}`, "job=\"a\"\nor vector(1)", `{job="a"`} {
		if _, err := runHelm(t, "template", "scp", chartDir, "--set", "prometheusRule.enabled=true", "--set-string", "prometheusRule.exporterSelector="+bad); err == nil {
			t.Errorf("exporterSelector %q renders", bad)
		} else if !strings.Contains(err.Error(), "exporterSelector") {
			t.Errorf("exporterSelector %q: the error does not name it:\n%v", bad, err)
		}
	}
}

// TestNotesWarnWhenTheJobDoesNotMatch: a ServiceMonitor whose job
// (the Service's name, fullnameOverride included, or its jobLabel's value)
// the default exporter selector does not match gets a warning naming
// prometheusRule.exporterSelector; none when it matches or the selector is
// set.
func TestNotesWarnWhenTheJobDoesNotMatch(t *testing.T) {
	const warning = "WARNING: the ServiceMonitor gives job="
	sm := []string{"--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.additionalLabels.release=prom"}
	for name, tc := range map[string]struct {
		args []string
		warn string // the job named, "" for no warning
	}{
		"defaults":                   {nil, ""},
		"fullnameOverride":           {[]string{"--set", "fullnameOverride=sharing-prod"}, "sharing-prod"},
		"fullnameOverride matching":  {[]string{"--set", "fullnameOverride=scp-exporter-prod"}, ""},
		"fullnameOverride, selector": {[]string{"--set", "fullnameOverride=sharing-prod", "--set-string", `prometheusRule.exporterSelector=job="sharing-prod"`}, ""},
		"jobLabel of the chart":      {[]string{"--set", "serviceMonitor.jobLabel=app\\.kubernetes\\.io/name"}, ""},
		"jobLabel of service.labels": {[]string{"--set", "serviceMonitor.jobLabel=team", "--set", "service.labels.team=security"}, "security"},
		"jobLabel the Service lacks": {[]string{"--set", "serviceMonitor.jobLabel=team"}, ""},
		"jobLabel, selector":         {[]string{"--set", "serviceMonitor.jobLabel=team", "--set", "service.labels.team=security", "--set-string", `prometheusRule.exporterSelector=job="security"`}, ""},
	} {
		notes := renderNotes(t, append(slices.Clone(sm), tc.args...)...)
		if tc.warn == "" {
			if strings.Contains(notes, warning) {
				t.Errorf("%s: the NOTES warn:\n%s", name, notes)
			}
			continue
		}
		if !strings.Contains(notes, warning+tc.warn) || !strings.Contains(notes, "prometheusRule.exporterSelector") {
			t.Errorf("%s: the NOTES do not warn that job=%s does not match and name prometheusRule.exporterSelector:\n%s", name, tc.warn, notes)
		}
	}
}

// TestExporterSelectorReachesTheDashboard: prometheusRule.exporterSelector
// replaces the mixin's default exporter selector in the dashboard
// ConfigMap too (the rules switched off or not), in the JSON-escaped form
// the files carry, so that the JSON still parses and the Job variable and
// "Exporters up" select the exporter's targets by it; a backslash and
// quotes in the selector survive the escaping.
func TestExporterSelectorReachesTheDashboard(t *testing.T) {
	const sel = `job=~"scp\\.prod",namespace="monitoring"`
	dir := t.TempDir()
	writeFile(t, dir, "values.yaml", "prometheusRule:\n  exporterSelector: '"+sel+"'\ngrafanaDashboard:\n  enabled: true\n")
	for name, args := range map[string][]string{
		"rules off": nil,
		"rules on":  {"--set", "prometheusRule.enabled=true"},
	} {
		r := template(t, append([]string{"-f", filepath.Join(dir, "values.yaml")}, args...)...)
		var dash *corev1.ConfigMap
		for i := range r.ConfigMaps {
			if strings.HasSuffix(r.ConfigMaps[i].Name, "-dashboards") {
				dash = &r.ConfigMaps[i]
			}
		}
		if dash == nil || len(dash.Data) == 0 {
			t.Fatalf("%s: no dashboard ConfigMap", name)
		}
		for key, raw := range dash.Data {
			if strings.Contains(raw, "scp[-_]exporter") {
				t.Errorf("%s: %s still holds the default selector", name, key)
			}
			var d struct {
				Templating struct {
					List []struct {
						Name  string `json:"name"`
						Query any    `json:"query"`
					} `json:"list"`
				} `json:"templating"`
				Panels []json.RawMessage `json:"panels"`
			}
			if err := json.Unmarshal([]byte(raw), &d); err != nil {
				t.Fatalf("%s: %s is no JSON once the selector is in: %v", name, key, err)
			}
			job := false
			for _, v := range d.Templating.List {
				if v.Name == "job" {
					job = true
					if q, _ := v.Query.(string); !strings.Contains(q, "scp_exporter_build_info{"+sel+"}") {
						t.Errorf("%s: %s: the job variable's query %q does not select by %s", name, key, q, sel)
					}
				}
			}
			if !job {
				t.Errorf("%s: %s has no job variable", name, key)
			}
			exprs := panelExprs(t, d.Panels)
			up, ok := exprs["Exporters up"]
			if !ok {
				t.Fatalf("%s: %s has no panel Exporters up among %d", name, key, len(exprs))
			}
			if !strings.Contains(up, "up{"+sel+", ") {
				t.Errorf("%s: %s: Exporters up does not select up{%s, ...}: %s", name, key, sel, up)
			}
		}
	}
	// The value the schema refuses for the rules is refused here as well.
	if _, err := runHelm(t, "template", "scp", chartDir, "--set", "grafanaDashboard.enabled=true", "--set-string", `prometheusRule.exporterSelector=job="a"}`); err == nil {
		t.Error(`exporterSelector job="a"} renders the dashboard`)
	}
}

// panelExprs returns the expressions of every panel, rows' panels
// included, by title (joined by newlines).
func panelExprs(t *testing.T, panels []json.RawMessage) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	for _, raw := range panels {
		var p struct {
			Title   string            `json:"title"`
			Panels  []json.RawMessage `json:"panels"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		maps.Copy(exprs, panelExprs(t, p.Panels))
		for _, tg := range p.Targets {
			exprs[p.Title] += tg.Expr + "\n"
		}
	}
	return exprs
}
