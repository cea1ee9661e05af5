package charttest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// renderNotes renders the chart's NOTES.txt with args. helm template
// leaves NOTES out and helm install --dry-run wants a cluster, so a copy of
// the chart turns NOTES.txt into a named template that a ConfigMap quotes.
func renderNotes(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "scp-exporter")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(dir, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "templates", "NOTES.txt")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "templates"), "_notes_test.tpl", `{{- define "test.notes" }}`+string(notes)+`{{- end }}`)
	writeFile(t, filepath.Join(dir, "templates"), "zz_notes_test.yaml",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: {{ include \"test.notes\" . | quote }}\n")
	out, err := runHelm(t, append([]string{"template", "scp", dir, "--namespace", "monitoring", "--show-only", "templates/zz_notes_test.yaml"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	cm := one(t, "ConfigMap", decodeAll(t, out).ConfigMaps)
	return cm.Data["notes"]
}

// TestNotes: the NOTES render for each combination the README shows, and
// say what is still to set: a warning for the placeholder image, for no
// ServiceMonitor and no scrape annotation, for a ServiceMonitor or
// PrometheusRule without the labels a Prometheus selects; none once set.
func TestNotes(t *testing.T) {
	const (
		imageWarning   = "WARNING: image.repository is the placeholder"
		scrapeWarning  = "WARNING: no ServiceMonitor"
		smLabelWarning = "WARNING: serviceMonitor.additionalLabels is empty"
		ruleWarning    = "WARNING: no prometheusRule.additionalLabels"
	)
	check := func(name, notes string, want, notWant []string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(notes, w) {
				t.Errorf("%s: the NOTES lack %q:\n%s", name, w, notes)
			}
		}
		for _, w := range notWant {
			if strings.Contains(notes, w) {
				t.Errorf("%s: the NOTES say %q:\n%s", name, w, notes)
			}
		}
	}
	check("defaults", renderNotes(t),
		[]string{imageWarning, scrapeWarning, "kubectl -n monitoring create secret generic scp-exporter-credentials", "None is set now", "No PrometheusRule"},
		[]string{smLabelWarning})
	check("a ServiceMonitor and a PrometheusRule without labels", renderNotes(t, "--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true"),
		[]string{smLabelWarning, ruleWarning}, []string{scrapeWarning, "No PrometheusRule"})
	check("a scrape annotation", renderNotes(t, "--set-string", "podAnnotations.prometheus\\.io/scrape=true"),
		[]string{"no ServiceMonitor"}, []string{scrapeWarning})
	check("no Secret", renderNotes(t, "--set", "existingSecret="),
		[]string{"existingSecret is empty"}, []string{"create secret"})

	docs := documented(t)
	for name, args := range docs {
		if notes := renderNotes(t, args...); strings.TrimSpace(notes) == "" {
			t.Errorf("%s: empty NOTES", name)
		}
	}
	check("chart README install", renderNotes(t, docs["chart README install"]...),
		[]string{"create secret generic scp-exporter-credentials", "The ServiceMonitor scp-scp-exporter in monitoring", "--config.check"},
		[]string{"WARNING", "No PrometheusRule"})
	check("chart README rules and dashboard", renderNotes(t, docs["chart README rules and dashboard"]...),
		[]string{"no exporter (exporter.enabled=false)", "the PrometheusRule scp-scp-exporter", "scp-scp-exporter-dashboards", "grafana_dashboard=1"},
		[]string{"WARNING", "port-forward", "create secret"})
	check("rules without labels", renderNotes(t, "--set", "exporter.enabled=false", "--set", "prometheusRule.enabled=true"),
		[]string{ruleWarning}, []string{"dashboards"})
	check("chart README one group of accounts", renderNotes(t, docs["chart README one group of accounts"]...),
		[]string{"No PrometheusRule", "Several releases"}, []string{"WARNING"})
}
