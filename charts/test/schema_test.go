package charttest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestSchemaRejectsTypos: values.schema.json refuses keys the chart does not
// read (names from other exporters' charts among them) and values of the
// wrong type, and helm's error names the key.
func TestSchemaRejectsTypos(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // in helm's error
	}{
		{[]string{"--set", "serviceMonitor.labels.release=kube-prometheus-stack"}, "'labels'"},
		{[]string{"--set", "replicaCount=2"}, "'replicaCount'"},
		{[]string{"--set", "env[0].name=FOO"}, "'env'"},
		{[]string{"--set", "prometheusRule.labels.release=x"}, "'labels'"},
		{[]string{"--set", "image.repo=x"}, "'repo'"},
		{[]string{"--set", "persistence.enable=true"}, "'enable'"},
		{[]string{"--set", "webConfig.basicAuth.enable=true"}, "'enable'"},
		{[]string{"--set", "serviceMonitor.enabled=yes"}, "/serviceMonitor/enabled"},
		{[]string{"--set", "service.port=http"}, "/service/port"},
		{[]string{"--set", "serviceMonitor.interval=1 minute"}, "/serviceMonitor/interval"},
		{[]string{"--set", "log.level=verbose"}, "/log/level"},
		{[]string{"--set", "extraArgs=--web.max-requests=20"}, "/extraArgs"},
		{[]string{"--set", "podLabels.team=1"}, "/podLabels/team"},
		{[]string{"--set", "serviceAccount.automount=true"}, "'automount'"},
		{[]string{"--set", "networkPolicy.enable=true"}, "'enable'"},
		{[]string{"--set", "networkPolicy.egress.scpApi.ports={https}"}, "/networkPolicy/egress/scpApi/ports/0"},
		{[]string{"--set", "serviceMonitor.path=metrics"}, "/serviceMonitor/path"},
		{[]string{"--set", "grafanaDashboard.label.grafana_dashboard=1"}, "'label'"},
		{[]string{"--set", "grafanaDashboards.enabled=true"}, "'grafanaDashboards'"},
		{[]string{"--set", "exporter.enable=false"}, "'enable'"},
		{[]string{"--set", "prometheusRule.disabled.SCPExporterDown=true"}, "'disabled'"},
		{[]string{"--set", "prometheusRule.disabledGroups.scp_exporter=yes"}, "/prometheusRule/disabledGroups/scp_exporter"},
	} {
		out, err := runHelm(t, append([]string{"template", "scp", chartDir}, c.args...)...)
		if err == nil {
			t.Errorf("helm template %v succeeded:\n%.300s", c.args, out)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "schema") {
			t.Errorf("helm template %v: the error does not name %s:\n%v", c.args, c.want, err)
		}
	}
}

// TestSchemaAcceptsTheRealKeys: the names other charts use that this chart
// has too pass the schema.
func TestSchemaAcceptsTheRealKeys(t *testing.T) {
	template(t, "--set", "serviceAccount.create=false", "--set", "networkPolicy.enabled=true",
		"--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.namespace=prometheus",
		"--set", "serviceMonitor.jobLabel=app.kubernetes.io/name", "--set", "global.imageRegistry=r.example",
		"--set", "extraEnvFrom[0].configMapRef.name=x", "--set", "prometheusRule.enabled=true",
		"--set", "prometheusRule.additionalRuleLabels.team=security")
}

// documented returns each combination of values that the chart's README
// and docs/running.md show, by name, as helm arguments.
func documented(t *testing.T) map[string][]string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) string {
		return writeFile(t, dir, name, text)
	}
	accountsA := write("accounts-a.yml", `accounts:
  - name: prod
    scp: {region: kr-west1, environment: e}
    expected_members: [a8f10467abfc4b87b64614ab36eb9ae4]
    discovery: {enabled: true}
`)
	return map[string][]string{
		// charts/scp-exporter/README.md, "Install".
		"chart README install": {
			"--set", "image.repository=registry.example.internal/scp_exporter",
			"--set-file", "config=../../config.example.yml",
			"--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.additionalLabels.release=kube-prometheus-stack",
			"--set", "prometheusRule.enabled=true", "--set", "prometheusRule.additionalLabels.release=kube-prometheus-stack",
			"--set", "grafanaDashboard.enabled=true",
		},
		// charts/scp-exporter/README.md, the accounts form.
		"chart README accounts": {"-f", write("accounts.yaml", `config:
  scp: null
  images: null
  discovery: null
  accounts:
    - name: prod
      scp: {region: kr-west1, environment: e, secret_key_file: /run/secrets/scp_exporter/secret_key}
      discovery: {enabled: true}
`)},
		// charts/scp-exporter/README.md, "Several releases".
		"chart README rules and dashboard": rulesAndDashboardOnly,
		"chart README one group of accounts": append([]string{
			"--set", "image.repository=registry.example.internal/scp_exporter",
			"--set-file", "config=" + accountsA,
		}, oneGroupOfAccounts...),
		// charts/scp-exporter/README.md, "The PrometheusRule".
		"chart README rule switches": {"-f", write("switches.yaml", `prometheusRule:
  enabled: true
  disabledGroups: {}
  disabledAlerts:
    SCPAPIVersionSupportEnding: true
`)},
		// docs/running.md, "With Helm".
		"docs/running.md my-values": {"-f", write("my-values.yaml", `image:
  repository: registry.example.internal/scp_exporter
config:
  scp: {region: kr-west1, environment: e}
  expected_members: [a8f10467abfc4b87b64614ab36eb9ae4]
  images:
    - {id: 70a599e0-31e7-49b7-b260-868f441e862b, name: golden-ubuntu}
serviceMonitor:
  enabled: true
  additionalLabels: {release: kube-prometheus-stack}   # what your Prometheus selects
prometheusRule:
  enabled: true
  additionalLabels: {release: kube-prometheus-stack}
`)},
	}
}

// TestDocumentedValuesRender: each combination of values that the chart's
// README and docs/running.md show passes the schema, renders, decodes
// strictly, lints cleanly, and gives the pod a config that passes
// --config.check with the environment the chart sets.
func TestDocumentedValuesRender(t *testing.T) {
	for name, args := range documented(t) {
		t.Run(name, func(t *testing.T) {
			r := template(t, args...)
			if len(r.Deployments) > 0 {
				checkConfig(t, r)
			}
			out, err := runHelm(t, append([]string{"lint", "--strict", chartDir}, args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "0 chart(s) failed") || strings.Contains(out, "[WARNING]") {
				t.Errorf("helm lint --strict:\n%s", out)
			}
		})
	}
}

// writeFile writes text to dir/name and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeValues writes a values file and returns its path.
func writeValues(t *testing.T, text string) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "values.yaml", text)
}

// TestSchemaMatchesValues: every key of values.yaml has a place in
// values.schema.json, and every key the schema closes (additionalProperties:
// false) is in values.yaml with its default, so neither drifts.
func TestSchemaMatchesValues(t *testing.T) {
	var values map[string]any
	raw, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if raw, err = os.ReadFile(chartDir + "/values.schema.json"); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	var walk func(path string, v map[string]any, s map[string]any)
	walk = func(path string, v map[string]any, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		additional, isBool := s["additionalProperties"].(bool)
		closed := isBool && !additional
		for k, val := range v {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if closed {
					t.Errorf("values.yaml has %s%s, the schema does not", path, k)
				}
				continue
			}
			if m, ok := val.(map[string]any); ok && path+k != "config" {
				walk(path+k+".", m, ps)
			}
		}
		if !closed {
			return
		}
		for k := range props {
			if _, ok := v[k]; !ok {
				t.Errorf("the schema has %s%s, values.yaml does not", path, k)
			}
		}
	}
	walk("", values, schema)
}
