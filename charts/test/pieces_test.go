package charttest

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// TestServiceAccount: the chart's own ServiceAccount by default, another
// one by name, and never a mounted token.
func TestServiceAccount(t *testing.T) {
	r := template(t, "--set", "serviceAccount.annotations.example\\.com/role=scp-reader")
	sa := one(t, "ServiceAccount", r.ServiceAccounts)
	d := one(t, "Deployment", r.Deployments)
	if sa.Name != "scp-scp-exporter" || sa.Namespace != "monitoring" {
		t.Errorf("ServiceAccount %s/%s, want monitoring/scp-scp-exporter", sa.Namespace, sa.Name)
	}
	if got := d.Spec.Template.Spec.ServiceAccountName; got != sa.Name {
		t.Errorf("the pod runs as %q, want the chart's %q", got, sa.Name)
	}
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("the ServiceAccount lets pods mount its token")
	}
	if sa.Annotations["example.com/role"] != "scp-reader" {
		t.Errorf("annotations %v", sa.Annotations)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "serviceAccount.create=false"}, "default"},
		{[]string{"--set", "serviceAccount.create=false", "--set", "serviceAccount.name=shared"}, "shared"},
		{[]string{"--set", "serviceAccount.name=own"}, "own"},
	} {
		r := template(t, c.args...)
		d := one(t, "Deployment", r.Deployments)
		if got := d.Spec.Template.Spec.ServiceAccountName; got != c.want {
			t.Errorf("%v: the pod runs as %q, want %q", c.args, got, c.want)
		}
		if created := len(r.ServiceAccounts) == 1; created != (c.want == "own") {
			t.Errorf("%v: %d ServiceAccounts", c.args, len(r.ServiceAccounts))
		} else if created && r.ServiceAccounts[0].Name != "own" {
			t.Errorf("%v: ServiceAccount %s", c.args, r.ServiceAccounts[0].Name)
		}
		checkPodLockedDown(t, d)
	}
}

// TestNetworkPolicy: ingress only to the metrics port, egress only to DNS
// and to the SCP API's addresses and ports.
func TestNetworkPolicy(t *testing.T) {
	if n := len(template(t).NetworkPolicies); n != 0 {
		t.Fatalf("%d NetworkPolicies by default, want none", n)
	}
	r := template(t, "--set", "networkPolicy.enabled=true",
		"--set", "networkPolicy.egress.scpApi.cidrs={203.0.113.0/24,198.51.100.7/32}",
		"--set", "networkPolicy.egress.scpApi.ports={443,8443}",
		"--set", "networkPolicy.ingress.from[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring")
	np := one(t, "NetworkPolicy", r.NetworkPolicies)
	d := one(t, "Deployment", r.Deployments)
	if !labelsMatch(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("the NetworkPolicy selects %v, not the pod %v", np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress", "Egress"}) {
		t.Errorf("policy types %v", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].Ports) != 1 || np.Spec.Ingress[0].Ports[0].Port.String() != "metrics" ||
		len(np.Spec.Ingress[0].From) != 1 || np.Spec.Ingress[0].From[0].NamespaceSelector == nil {
		t.Errorf("ingress %+v, want the metrics port from the monitoring namespace", np.Spec.Ingress)
	}
	type port struct {
		proto corev1.Protocol
		port  string
	}
	var dns, api []port
	var cidrs []string
	for _, e := range np.Spec.Egress {
		if len(e.Ports) == 0 {
			t.Errorf("an egress rule for every port: %+v", e)
		}
		var ports []port
		for _, p := range e.Ports {
			ports = append(ports, port{*p.Protocol, p.Port.String()})
		}
		if len(e.To) == 0 {
			dns = ports
			continue
		}
		api = ports
		for _, to := range e.To {
			if to.IPBlock == nil {
				t.Errorf("the API rule's peer %+v is no ipBlock", to)
				continue
			}
			cidrs = append(cidrs, to.IPBlock.CIDR)
		}
	}
	if want := []port{{"UDP", "53"}, {"TCP", "53"}}; !slices.Equal(dns, want) {
		t.Errorf("DNS egress %v, want %v", dns, want)
	}
	if want := []port{{"TCP", "443"}, {"TCP", "8443"}}; !slices.Equal(api, want) {
		t.Errorf("API egress %v, want %v", api, want)
	}
	if want := []string{"203.0.113.0/24", "198.51.100.7/32"}; !slices.Equal(cidrs, want) {
		t.Errorf("API egress to %v, want %v", cidrs, want)
	}
	if _, err := runHelm(t, "template", "scp", chartDir, "--set", "networkPolicy.enabled=true", "--set", "networkPolicy.egress.scpApi.cidrs=null"); err == nil {
		t.Error("an empty list of API CIDRs renders (an egress rule to anywhere)")
	}
}

// TestPodExtras: extraEnvFrom, topologySpreadConstraints (templated) and
// extraObjects (templated, maps or strings).
func TestPodExtras(t *testing.T) {
	r := template(t, "-f", writeValues(t, `
extraEnvFrom:
  - secretRef: {name: scp-proxy}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        app.kubernetes.io/instance: '{{ .Release.Name }}'
extraObjects:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: '{{ .Release.Name }}-extra-map', namespace: '{{ .Release.Namespace }}'}
    data: {a: b}
  - |
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: {{ include "scp-exporter.fullname" . }}-extra-string
`))
	d := one(t, "Deployment", r.Deployments)
	c := container(t, d)
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != "scp-proxy" {
		t.Errorf("envFrom %+v", c.EnvFrom)
	}
	if env := c.Env; len(env) == 0 || env[0].Name != "SCP_ACCESS_KEY" {
		t.Errorf("env %+v lost SCP_ACCESS_KEY", env)
	}
	tsc := d.Spec.Template.Spec.TopologySpreadConstraints
	if len(tsc) != 1 || tsc[0].LabelSelector == nil || tsc[0].LabelSelector.MatchLabels["app.kubernetes.io/instance"] != "scp" {
		t.Errorf("topologySpreadConstraints %+v, want the release's name templated in", tsc)
	}
	var names []string
	for _, cm := range r.ConfigMaps {
		names = append(names, cm.Namespace+"/"+cm.Name)
	}
	if want := []string{"/scp-scp-exporter-extra-string", "monitoring/scp-extra-map", "monitoring/scp-scp-exporter"}; !slices.Equal(slices.Sorted(slices.Values(names)), want) {
		t.Errorf("ConfigMaps %v, want %v", names, want)
	}
}

// TestImageRegistry: image.registry, and global.imageRegistry over it.
func TestImageRegistry(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "scp_exporter:" + appVersion(t)},
		{[]string{"--set", "image.registry=registry.example.internal/"}, "registry.example.internal/scp_exporter:" + appVersion(t)},
		{[]string{"--set", "image.registry=a.example", "--set", "global.imageRegistry=b.example", "--set", "image.digest=sha256:" + sha}, "b.example/scp_exporter@sha256:" + sha},
	} {
		if got := container(t, one(t, "Deployment", template(t, c.args...).Deployments)).Image; got != c.want {
			t.Errorf("%v: image %q, want %q", c.args, got, c.want)
		}
	}
}

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestServiceMonitorOptions: its namespace, jobLabel, targetLabels and the
// path of --web.telemetry-path, with the stable instance kept.
func TestServiceMonitorOptions(t *testing.T) {
	path := func(args ...string) string {
		sm := one(t, "ServiceMonitor", template(t, append([]string{"--set", "serviceMonitor.enabled=true"}, args...)...).ServiceMonitors)
		return sm.Spec.Endpoints[0].Path
	}
	if got := path(); got != "/metrics" {
		t.Errorf("path %q by default", got)
	}
	if got := path("--set", "extraArgs={--web.max-requests=20,--web.telemetry-path=/scp/metrics}"); got != "/scp/metrics" {
		t.Errorf("path %q, want the --web.telemetry-path of extraArgs", got)
	}
	if got := path("--set", "extraArgs={--web.telemetry-path=/a}", "--set", "serviceMonitor.path=/b"); got != "/b" {
		t.Errorf("path %q, want serviceMonitor.path", got)
	}
	r := template(t, "--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.namespace=prometheus",
		"--set", "serviceMonitor.jobLabel=app.kubernetes.io/name", "--set", "serviceMonitor.targetLabels={app.kubernetes.io/instance}")
	sm := one(t, "ServiceMonitor", r.ServiceMonitors)
	if sm.Namespace != "prometheus" || !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{"monitoring"}) {
		t.Errorf("ServiceMonitor in %q selecting %v, want in prometheus selecting the release's namespace", sm.Namespace, sm.Spec.NamespaceSelector.MatchNames)
	}
	if sm.Spec.JobLabel != "app.kubernetes.io/name" || !slices.Equal(sm.Spec.TargetLabels, []string{"app.kubernetes.io/instance"}) {
		t.Errorf("jobLabel %q, targetLabels %v", sm.Spec.JobLabel, sm.Spec.TargetLabels)
	}
	// The job is then the Service's app.kubernetes.io/name, which
	// SCPExporterDown's job=~".*scp[-_]exporter.*" still matches.
	if svc := one(t, "Service", r.Services); svc.Labels[sm.Spec.JobLabel] != "scp-exporter" {
		t.Errorf("the Service's %s is %q", sm.Spec.JobLabel, svc.Labels[sm.Spec.JobLabel])
	}
	if rl := sm.Spec.Endpoints[0].RelabelConfigs; len(rl) < 2 || rl[0].TargetLabel != "instance" {
		t.Errorf("the stable instance relabelings are gone: %+v", rl)
	}
}

// TestPrometheusRuleOptions: its namespace, and additionalRuleLabels on
// every alert (not on recording rules) without overriding an alert's own.
func TestPrometheusRuleOptions(t *testing.T) {
	r := template(t, "--set", "prometheusRule.enabled=true", "--set", "prometheusRule.namespace=prometheus",
		"--set", "prometheusRule.additionalRuleLabels.team=security", "--set", "prometheusRule.additionalRuleLabels.severity=info")
	pr := one(t, "PrometheusRule", r.PrometheusRules)
	if pr.Namespace != "prometheus" {
		t.Errorf("PrometheusRule in %q, want prometheus", pr.Namespace)
	}
	plain := one(t, "PrometheusRule", template(t, "--set", "prometheusRule.enabled=true").PrometheusRules)
	// Without the added labels the spec is the rules file's.
	var alerts int
	for gi, g := range pr.Spec.Groups {
		for ri, rule := range g.Rules {
			orig := plain.Spec.Groups[gi].Rules[ri]
			if rule.Record != "" {
				if !maps.Equal(rule.Labels, orig.Labels) {
					t.Errorf("recording rule %s got labels %v", rule.Record, rule.Labels)
				}
				continue
			}
			alerts++
			if rule.Labels["team"] != "security" {
				t.Errorf("alert %s has labels %v, no team", rule.Alert, rule.Labels)
			}
			if s, ok := orig.Labels["severity"]; ok && rule.Labels["severity"] != s {
				t.Errorf("alert %s: severity %q, want its own %q", rule.Alert, rule.Labels["severity"], s)
			}
			pr.Spec.Groups[gi].Rules[ri].Labels = orig.Labels
		}
	}
	if alerts < 10 {
		t.Fatalf("%d alerts", alerts)
	}
	checkRules(t, monitoringv1.PrometheusRule{Spec: pr.Spec})
	if !reflect.DeepEqual(pr.Spec, plain.Spec) {
		t.Error("the spec differs beyond the added labels")
	}
}

// TestGoMemLimit: GOMEMLIMIT is goMemLimitRatio of the memory limit, in
// bytes, for the quantities a values file writes; absent with the ratio 0,
// without a limit, or with GOMEMLIMIT in extraEnv (which stays the only
// one); a limit the chart cannot read fails the render naming it.
func TestGoMemLimit(t *testing.T) {
	envOf := func(args ...string) []string {
		t.Helper()
		var got []string
		for _, e := range container(t, one(t, "Deployment", template(t, args...).Deployments)).Env {
			if e.Name == "GOMEMLIMIT" {
				got = append(got, e.Value)
			}
		}
		return got
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"181193932"}}, // 0.9 × 192Mi
		{[]string{"--set", "resources.limits.memory=1.5Gi"}, []string{"1449551462"}},
		{[]string{"--set", "resources.limits.memory=500M", "--set-json", "goMemLimitRatio=0.5"}, []string{"250000000"}},
		{[]string{"--set-json", "resources.limits.memory=201326592"}, []string{"181193932"}},
		{[]string{"--set", "goMemLimitRatio=0"}, nil},
		{[]string{"--set", "resources.limits=null"}, nil},
		{[]string{"--set-json", `extraEnv=[{"name":"GOMEMLIMIT","value":"100MiB"}]`}, []string{"100MiB"}},
	} {
		if got := envOf(c.args...); !slices.Equal(got, c.want) {
			t.Errorf("%v: GOMEMLIMIT %q, want %q", c.args, got, c.want)
		}
	}
	_, err := runHelm(t, "template", "scp", chartDir, "--set", "resources.limits.memory=1e9")
	if err == nil || !strings.Contains(err.Error(), `resources.limits.memory "1e9"`) {
		t.Errorf("a limit the chart cannot read: %v, want an error naming it", err)
	}
	if _, err := runHelm(t, "template", "scp", chartDir, "--set-json", "goMemLimitRatio=1.5"); err == nil || !strings.Contains(err.Error(), "/goMemLimitRatio") {
		t.Errorf("goMemLimitRatio 1.5: %v, want the schema to refuse it", err)
	}
}
