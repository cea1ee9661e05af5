package charttest

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// ruleNames reads the group names, and the alert and recording rule names
// of each group, from the repository's rules file, so that the tests hold
// whatever groups the mixin makes.
func ruleNames(t *testing.T) (groups []string, alerts, records map[string][]string) {
	t.Helper()
	file := rulesFile(t)
	alerts, records = map[string][]string{}, map[string][]string{}
	for _, g := range file.Groups {
		groups = append(groups, g.Name)
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts[g.Name] = append(alerts[g.Name], r.Alert)
			} else {
				records[g.Name] = append(records[g.Name], r.Record)
			}
		}
	}
	if len(groups) == 0 || len(slices.Concat(slices.Collect(maps.Values(alerts))...)) < 10 {
		t.Fatalf("%s: groups %v, alerts %v: the test reads it wrong", rulesPath, groups, alerts)
	}
	return groups, alerts, records
}

// inRule lists the alerts and the recording rules of a PrometheusRule.
func inRule(pr monitoringv1.PrometheusRule) (alerts, records []string) {
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, r.Alert)
			} else {
				records = append(records, r.Record)
			}
		}
	}
	return alerts, records
}

// TestRuleSwitches: prometheusRule.disabledAlerts leaves out exactly that
// alert, disabledGroups exactly that group's alerts, recording rules stay
// in both cases, false keeps the rule, and a name that is not in the rules
// file, or a group that holds no alert (the recording group), fails the
// render with a message naming it.
func TestRuleSwitches(t *testing.T) {
	groups, alerts, records := ruleNames(t)
	var allAlerts, allRecords []string
	for _, g := range groups {
		allAlerts = append(allAlerts, alerts[g]...)
		allRecords = append(allRecords, records[g]...)
	}
	render := func(args ...string) monitoringv1.PrometheusRule {
		return one(t, "PrometheusRule", template(t, append([]string{"--set", "prometheusRule.enabled=true"}, args...)...).PrometheusRules)
	}
	for _, name := range allAlerts {
		gotAlerts, gotRecords := inRule(render("--set", "prometheusRule.disabledAlerts."+name+"=true"))
		want := slices.DeleteFunc(slices.Clone(allAlerts), func(a string) bool { return a == name })
		if !slices.Equal(gotAlerts, want) {
			t.Errorf("disabledAlerts.%s: alerts %v, want %v", name, gotAlerts, want)
		}
		if !slices.Equal(gotRecords, allRecords) {
			t.Errorf("disabledAlerts.%s: recording rules %v, want all of %v", name, gotRecords, allRecords)
		}
	}
	recordingOnly := 0
	for _, g := range groups {
		if len(alerts[g]) == 0 {
			// A group of recording rules only: switching it off would
			// remove nothing (recording rules stay), so it fails.
			recordingOnly++
			key := "prometheusRule.disabledGroups." + g
			_, err := runHelm(t, "template", "scp", chartDir, "--set", "prometheusRule.enabled=true", "--set", key+"=true")
			if err == nil {
				t.Errorf("%s=true renders, removing nothing: its recording rules stay, the alerts read them", key)
			} else if !strings.Contains(err.Error(), key+":") || !strings.Contains(err.Error(), "holds no alert") {
				t.Errorf("%s=true: the error does not say the group holds no alert:\n%v", key, err)
			}
			continue
		}
		gotAlerts, gotRecords := inRule(render("--set", "prometheusRule.disabledGroups."+g+"=true"))
		want := slices.DeleteFunc(slices.Clone(allAlerts), func(a string) bool { return slices.Contains(alerts[g], a) })
		if !slices.Equal(gotAlerts, want) {
			t.Errorf("disabledGroups.%s: alerts %v, want %v", g, gotAlerts, want)
		}
		if !slices.Equal(gotRecords, allRecords) {
			t.Errorf("disabledGroups.%s: recording rules %v, want all of %v", g, gotRecords, allRecords)
		}
	}
	if recordingOnly == 0 {
		t.Errorf("%s: no group of recording rules only (groups %v): the test reads it wrong", rulesPath, groups)
	}
	// false is the same as not set: the file as it is.
	checkRules(t, render("--set", "prometheusRule.disabledAlerts."+allAlerts[0]+"=false", "--set", "prometheusRule.disabledGroups."+groups[0]+"=false"))

	for key, name := range map[string]string{
		"prometheusRule.disabledAlerts." + allAlerts[0] + "x": allAlerts[0] + "x",
		"prometheusRule.disabledAlerts." + allRecords[0]:      allRecords[0], // a recording rule is no alert
		"prometheusRule.disabledGroups." + groups[0] + "x":    groups[0] + "x",
		"prometheusRule.disabledGroups." + allAlerts[0]:       allAlerts[0], // an alert is no group
	} {
		_, err := runHelm(t, "template", "scp", chartDir, "--set", "prometheusRule.enabled=true", "--set", key+"=true")
		if err == nil {
			t.Errorf("%s=true renders: a typo would leave the alert on", key)
		} else if !strings.Contains(err.Error(), key+":") || !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("%s=true: the error does not name the key:\n%v", key, err)
		}
	}
	if _, err := runHelm(t, "template", "scp", chartDir, "--set", "prometheusRule.disabledAlerts.SCPExporterDown=yes"); err == nil {
		t.Error("disabledAlerts.SCPExporterDown=yes (a string) passes the schema")
	}
}

// TestGrafanaDashboard: off by default; on, one ConfigMap with the
// sidecar's label, the annotations and namespace asked for, holding each
// dashboard of the repository byte for byte, well under a ConfigMap's 1 MiB.
func TestGrafanaDashboard(t *testing.T) {
	for _, cm := range template(t).ConfigMaps {
		if strings.HasSuffix(cm.Name, "-dashboards") {
			t.Fatalf("a dashboard ConfigMap by default: %s", cm.Name)
		}
	}
	r := template(t, "--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.annotations.grafana_folder=SCP",
		"--set", "grafanaDashboard.namespace=grafana")
	var dash *corev1.ConfigMap
	for i := range r.ConfigMaps {
		if r.ConfigMaps[i].Name == "scp-scp-exporter-dashboards" {
			dash = &r.ConfigMaps[i]
		}
	}
	if dash == nil {
		t.Fatalf("no ConfigMap scp-scp-exporter-dashboards among %d", len(r.ConfigMaps))
	}
	if dash.Namespace != "grafana" || dash.Labels["grafana_dashboard"] != "1" || dash.Annotations["grafana_folder"] != "SCP" {
		t.Errorf("dashboard ConfigMap %s/%s labels %v annotations %v", dash.Namespace, dash.Name, dash.Labels, dash.Annotations)
	}
	files, err := filepath.Glob("../../dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards/*.json: %v", err)
	}
	var keys []string
	size := 0
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		key := filepath.Base(f)
		keys = append(keys, key)
		got := dash.Data[key]
		size += len(got)
		if got != string(want) {
			t.Errorf("the ConfigMap's %s differs from %s", key, f)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(got), &v); err != nil || v["uid"] == nil {
			t.Errorf("%s: not a dashboard with a uid: %v", key, err)
		}
	}
	if got := slices.Sorted(maps.Keys(dash.Data)); !slices.Equal(got, keys) {
		t.Errorf("ConfigMap keys %v, want the dashboards %v", got, keys)
	}
	// Room for the metadata and a kubectl apply annotation is not the
	// point: a ConfigMap over 1 MiB is refused, so keep well under it.
	if size > 900_000 {
		t.Errorf("the dashboards are %d bytes, close to a ConfigMap's 1 MiB", size)
	}
	// The default label can be replaced (null removes a default key).
	r = template(t, "--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.labels.grafana_dashboard=null", "--set", "grafanaDashboard.labels.dashboards=scp")
	for _, cm := range r.ConfigMaps {
		if cm.Name == "scp-scp-exporter-dashboards" {
			if _, ok := cm.Labels["grafana_dashboard"]; ok || cm.Labels["dashboards"] != "scp" {
				t.Errorf("labels %v, want dashboards=scp without grafana_dashboard", cm.Labels)
			}
		}
	}
}

// rulesAndDashboardOnly is the README's release that holds the rules and
// the dashboard for every exporter's release ("Several releases").
var rulesAndDashboardOnly = []string{
	"--set", "exporter.enabled=false",
	"--set", "prometheusRule.enabled=true", "--set", "prometheusRule.additionalLabels.release=kube-prometheus-stack",
	"--set", "grafanaDashboard.enabled=true",
}

// oneGroupOfAccounts is the README's release of one exporter in a split
// estate: no rules, no dashboard.
var oneGroupOfAccounts = []string{
	"--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.additionalLabels.release=kube-prometheus-stack",
	"--set", "prometheusRule.enabled=false", "--set", "grafanaDashboard.enabled=false",
}

// TestSeveralReleases: exporter.enabled=false renders only the
// PrometheusRule and the dashboard; each exporter's release renders
// neither; the rules select every exporter by job, not by release; values
// that would want an exporter with exporter.enabled=false fail.
func TestSeveralReleases(t *testing.T) {
	r := template(t, rulesAndDashboardOnly...)
	if got, want := slices.Sorted(slices.Values(r.Kinds)), []string{"ConfigMap", "PrometheusRule"}; !slices.Equal(got, want) {
		t.Fatalf("rules-only release renders %v, want %v", r.Kinds, want)
	}
	if cm := r.ConfigMaps[0]; cm.Name != "scp-scp-exporter-dashboards" {
		t.Errorf("the ConfigMap is %s, want the dashboards'", cm.Name)
	}
	pr := one(t, "PrometheusRule", r.PrometheusRules)
	if pr.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("PrometheusRule labels %v", pr.Labels)
	}
	checkRules(t, pr)
	// The rules name no release: one copy covers every exporter.
	raw, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "scp-scp-exporter") || !strings.Contains(string(raw), `job=~".*scp[-_]exporter.*"`) {
		t.Error("the rules select this release's exporter, not every exporter by job")
	}
	for _, only := range [][]string{{"--set", "prometheusRule.enabled=true"}, {"--set", "grafanaDashboard.enabled=true"}} {
		r := template(t, append([]string{"--set", "exporter.enabled=false"}, only...)...)
		if len(r.Kinds) != 1 {
			t.Errorf("exporter.enabled=false %v renders %v, want one object", only, r.Kinds)
		}
	}

	for _, release := range []string{"accounts-a", "accounts-b"} {
		out, err := runHelm(t, append([]string{"template", release, chartDir, "--namespace", "monitoring"}, oneGroupOfAccounts...)...)
		if err != nil {
			t.Fatal(err)
		}
		r := decodeAll(t, out)
		if len(r.PrometheusRules) != 0 || len(r.ConfigMaps) != 1 || len(r.Deployments) != 1 || len(r.ServiceMonitors) != 1 {
			t.Errorf("release %s renders %v, want the exporter without rules or dashboard", release, r.Kinds)
		}
		// Each release's job (the Service's name) is one the rules select.
		if svc := one(t, "Service", r.Services); !strings.Contains(svc.Name, "scp-exporter") {
			t.Errorf("Service %s: its job would not match the rules' selector", svc.Name)
		}
	}

	for name, args := range map[string][]string{
		"nothing to install":              {"--set", "exporter.enabled=false"},
		"a ServiceMonitor of no exporter": {"--set", "exporter.enabled=false", "--set", "prometheusRule.enabled=true", "--set", "serviceMonitor.enabled=true"},
		"a NetworkPolicy of no exporter":  {"--set", "exporter.enabled=false", "--set", "grafanaDashboard.enabled=true", "--set", "networkPolicy.enabled=true"},
	} {
		if _, err := runHelm(t, append([]string{"template", "scp", chartDir}, args...)...); err == nil || !strings.Contains(err.Error(), "exporter.enabled=false") {
			t.Errorf("%s: %v, want an error naming exporter.enabled=false", name, err)
		}
	}
}

// TestSetFileExampleConfig: the README's `--set-file
// config=config.example.yml` works without edits: the pod gets the file as
// is, and with the environment the chart sets (SCP_ACCESS_KEY and
// SCP_SECRET_KEY_FILE) it passes --config.check; without the chart's
// SCP_SECRET_KEY_FILE it would not.
func TestSetFileExampleConfig(t *testing.T) {
	const example = "../../config.example.yml"
	want, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	r := template(t, "--set", "image.repository=registry.example.internal/scp_exporter", "--set-file", "config="+example)
	text := exporterConfig(t, r)
	if strings.TrimSpace(text) != strings.TrimSpace(string(want)) {
		t.Fatalf("the pod's config.yml is not config.example.yml as given")
	}
	env := podEnv(t, r)
	if !slices.Contains(env, "SCP_SECRET_KEY_FILE="+secretKeyPath) {
		t.Fatalf("env %v: no SCP_SECRET_KEY_FILE naming the mounted key %s", env, secretKeyPath)
	}
	if v := volumesByMount(t, r.Deployments[0].Spec.Template.Spec, container(t, r.Deployments[0]))[filepath.Dir(secretKeyPath)]; v.Secret == nil ||
		len(v.Secret.Items) != 1 || v.Secret.Items[0].Path != filepath.Base(secretKeyPath) {
		t.Errorf("%s is not the mounted Secret's key: %+v", secretKeyPath, v)
	}
	checkConfig(t, r)
	// The same without the chart's variable: the secret key is missing.
	var without []string
	for _, e := range env {
		if !strings.HasPrefix(e, "SCP_SECRET_KEY_FILE=") {
			without = append(without, e)
		}
	}
	if out, err := runConfigCheck(t, text, without); err == nil || !strings.Contains(string(out), "scp.secret_key: missing") {
		t.Errorf("config.example.yml passes --config.check without SCP_SECRET_KEY_FILE (%v): the test proves nothing\n%s", err, out)
	}
}

// TestDashboardsOverAConfigMapFail: dashboards that one ConfigMap cannot
// hold (1 MiB) fail the render with a message, rather than the install.
func TestDashboardsOverAConfigMapFail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "scp-exporter")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "files"), "huge.json", `{"panels": "`+strings.Repeat("x", 1<<20)+`"}`)
	if _, err := runHelm(t, "template", "scp", dir, "--set", "grafanaDashboard.enabled=true"); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("dashboards over 1 MiB: %v, want an error saying so", err)
	}
	if _, err := runHelm(t, "template", "scp", dir); err != nil {
		t.Errorf("with grafanaDashboard off the size does not matter: %v", err)
	}
}
