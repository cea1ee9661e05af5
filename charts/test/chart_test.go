package charttest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Values that turn on everything the prometheus-operator offers.
var withMonitoring = []string{"--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true"}

func TestHelmLint(t *testing.T) {
	for _, args := range [][]string{
		nil,
		withMonitoring,
		append(slices.Clone(withMonitoring),
			"--set", "webConfig.existingSecret=scp-exporter-web",
			"--set", "webConfig.scheme=HTTPS",
			"--set", "webConfig.basicAuth.enabled=true",
			"--set", "webConfig.basicAuth.existingSecret=scp-exporter-scrape",
			"--set", "webConfig.basicAuth.probeAuthorization=Basic cHJvYmU6c2VjcmV0"),
		// Every optional piece at once.
		append(slices.Clone(withMonitoring),
			"--set", "networkPolicy.enabled=true",
			"--set", "serviceAccount.annotations.a=b",
			"--set", "global.imageRegistry=registry.example.internal",
			"--set", "extraEnvFrom[0].secretRef.name=proxy",
			"--set", "topologySpreadConstraints[0].maxSkew=1",
			"--set", "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
			"--set", "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
			"-f", writeValues(t, "extraObjects: [{apiVersion: v1, kind: ConfigMap, metadata: {name: '{{ .Release.Name }}-extra'}}]"),
			"--set", "serviceMonitor.namespace=prometheus", "--set", "serviceMonitor.jobLabel=app.kubernetes.io/name",
			"--set", "serviceMonitor.targetLabels={app.kubernetes.io/instance}",
			"--set", "extraArgs={--web.telemetry-path=/scp}",
			"--set", "prometheusRule.namespace=prometheus", "--set", "prometheusRule.additionalRuleLabels.team=security"),
	} {
		out, err := runHelm(t, append([]string{"lint", "--strict", chartDir}, args...)...)
		if err != nil {
			t.Errorf("helm lint %v: %v", args, err)
		} else if !strings.Contains(out, "0 chart(s) failed") || strings.Contains(out, "[WARNING]") {
			t.Errorf("helm lint %v:\n%s", args, out)
		}
	}
}

// TestTemplateRendersEveryObject renders the chart the way a user with the
// Prometheus Operator installs it and checks each object.
func TestTemplateRendersEveryObject(t *testing.T) {
	r := template(t, withMonitoring...)
	want := []string{"ConfigMap", "Deployment", "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor"}
	if got := slices.Sorted(slices.Values(r.Kinds)); !slices.Equal(got, want) {
		t.Fatalf("rendered %v, want one each of %v", r.Kinds, want)
	}
	d := one(t, "Deployment", r.Deployments)
	cm := one(t, "ConfigMap", r.ConfigMaps)
	svc := one(t, "Service", r.Services)
	sm := one(t, "ServiceMonitor", r.ServiceMonitors)
	for _, m := range []struct{ kind, ns string }{
		{"Deployment", d.Namespace}, {"ConfigMap", cm.Namespace}, {"Service", svc.Namespace}, {"ServiceMonitor", sm.Namespace},
	} {
		if m.ns != "monitoring" {
			t.Errorf("%s in namespace %q, want the release's", m.kind, m.ns)
		}
	}

	checkPodLockedDown(t, d)

	spec := d.Spec.Template.Spec
	c := container(t, d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	if !labelsMatch(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("the Deployment's selector %v does not match its pods %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	if c.Image != "scp_exporter:"+appVersion(t) {
		t.Errorf("image %q, want scp_exporter:%s (the chart's appVersion)", c.Image, appVersion(t))
	}
	if !slices.Contains(c.Args, "--config.file=/etc/scp_exporter/config.yml") {
		t.Errorf("args %v lack --config.file", c.Args)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || c.Ports[0].ContainerPort != 9857 {
		t.Errorf("ports %v, want metrics 9857", c.Ports)
	}
	// Both probes are HTTP GETs on the health endpoints without basic auth.
	for name, p := range map[string]*corev1.Probe{"/-/healthy": c.LivenessProbe, "/-/ready": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port.String() != "metrics" || p.HTTPGet.Scheme != corev1.URISchemeHTTP {
			t.Errorf("probe for %s: %+v", name, p)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}

	// The access key as SCP_ACCESS_KEY, the secret key as a file that
	// SCP_SECRET_KEY_FILE names, both from the existing Secret; then
	// GOMEMLIMIT (TestGoMemLimit).
	if len(c.Env) != 3 || c.Env[2].Name != "GOMEMLIMIT" || c.Env[0].Name != "SCP_ACCESS_KEY" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.SecretKeyRef == nil ||
		c.Env[0].ValueFrom.SecretKeyRef.Name != "scp-exporter-credentials" || c.Env[0].ValueFrom.SecretKeyRef.Key != "access_key" ||
		c.Env[1].Name != "SCP_SECRET_KEY_FILE" || c.Env[1].Value != secretKeyPath {
		t.Errorf("env %+v: want SCP_ACCESS_KEY from scp-exporter-credentials/access_key and SCP_SECRET_KEY_FILE=%s", c.Env, secretKeyPath)
	}
	vols := volumesByMount(t, spec, c)
	if v := vols["/run/secrets/scp_exporter"]; v.Secret == nil || v.Secret.SecretName != "scp-exporter-credentials" ||
		len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != "secret_key" || v.Secret.Items[0].Path != "secret_key" {
		t.Errorf("the secret key volume: %+v", v)
	}
	// The config from the ConfigMap, with the checksum that rolls the pod.
	if v := vols["/etc/scp_exporter"]; v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
		t.Errorf("the config volume %+v does not mount ConfigMap %s", v, cm.Name)
	}
	if sum := d.Spec.Template.Annotations["checksum/config"]; !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(sum) {
		t.Errorf("checksum/config annotation %q", sum)
	}
	checkConfig(t, r)

	// The Service selects the pods on the metrics port; the ServiceMonitor
	// selects the Service in the release's namespace.
	if !labelsMatch(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("the Service's selector %v does not match the pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "metrics" || svc.Spec.Ports[0].Port != 9857 || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("service ports %+v", svc.Spec.Ports)
	}
	if !labelsMatch(sm.Spec.Selector.MatchLabels, svc.Labels) || !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{"monitoring"}) {
		t.Errorf("the ServiceMonitor selects %v in %v; the Service has %v in monitoring", sm.Spec.Selector.MatchLabels, sm.Spec.NamespaceSelector.MatchNames, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != "metrics" || ep.Path != "/metrics" || ep.Interval != "60s" || ep.ScrapeTimeout != "30s" || ep.Scheme == nil || *ep.Scheme != "http" || ep.BasicAuth != nil {
		t.Errorf("ServiceMonitor endpoint %+v", ep)
	}

	// One instance label whatever the pod: a replaced pod keeps the
	// sharing alerts' identity.
	if rc := ep.RelabelConfigs; len(rc) < 2 || rc[0].TargetLabel != "instance" || rc[0].Replacement == nil || *rc[0].Replacement != "scp-scp-exporter" ||
		rc[1].Action != "labeldrop" || rc[1].Regex != "pod" {
		t.Errorf("ServiceMonitor relabelings %+v, want instance set to the release's name and pod dropped", rc)
	}

	checkRules(t, one(t, "PrometheusRule", r.PrometheusRules))
}

// checkPodLockedDown: non-root, read-only root file system, no privilege
// escalation, no capabilities, the runtime's seccomp profile, no API token.
func checkPodLockedDown(t *testing.T, d appsv1.Deployment) {
	t.Helper()
	spec := d.Spec.Template.Spec
	c := container(t, d)
	pod, sc := spec.SecurityContext, c.SecurityContext
	if pod == nil || sc == nil {
		t.Fatalf("security contexts: pod %+v, container %+v", pod, sc)
	}
	if pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.RunAsUser == nil || *pod.RunAsUser == 0 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("the pod may run as root: pod %+v, container %+v", pod, sc)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the root file system is writable")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("privilege escalation is allowed")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities %+v, want all dropped", sc.Capabilities)
	}
	if pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp profile %+v, want RuntimeDefault", pod.SeccompProfile)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("the service account token is mounted")
	}
}

// rulesFile is alerts/scp_exporter.rules.yml, decoded strictly as a
// PrometheusRule's spec.
func rulesFile(t *testing.T) monitoringv1.PrometheusRuleSpec {
	t.Helper()
	raw, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var file monitoringv1.PrometheusRuleSpec
	if err := decodeStrict(raw, &file); err != nil {
		t.Fatalf("%s does not decode strictly as a PrometheusRule spec: %v", rulesPath, err)
	}
	return file
}

// checkRules: the PrometheusRule's spec is alerts/scp_exporter.rules.yml,
// every group, recording rule and alert, with nothing added or left out.
func checkRules(t *testing.T, pr monitoringv1.PrometheusRule) {
	t.Helper()
	file := rulesFile(t)
	alerts := func(spec monitoringv1.PrometheusRuleSpec) []string {
		var names []string
		for _, g := range spec.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					names = append(names, r.Alert)
				}
			}
		}
		return names
	}
	want := alerts(file)
	if len(want) < 10 {
		t.Fatalf("%s has %d alerts; the test reads it wrong", rulesPath, len(want))
	}
	if got := alerts(pr.Spec); !slices.Equal(got, want) {
		t.Errorf("the PrometheusRule has alerts %v, want those of %s: %v", got, rulesPath, want)
	}
	if !reflect.DeepEqual(pr.Spec, file) {
		t.Errorf("the PrometheusRule's spec differs from %s", rulesPath)
	}
}

// TestDefaultsRenderNoOperatorObjects: without the prometheus-operator
// options, only what any cluster accepts.
func TestDefaultsRenderNoOperatorObjects(t *testing.T) {
	r := template(t)
	want := []string{"ConfigMap", "Deployment", "Service", "ServiceAccount"}
	if got := slices.Sorted(slices.Values(r.Kinds)); !slices.Equal(got, want) {
		t.Fatalf("rendered %v, want %v", r.Kinds, want)
	}
	checkPodLockedDown(t, r.Deployments[0])
}

// TestConfigChangeRollsThePod: the checksum follows the config and only it.
func TestConfigChangeRollsThePod(t *testing.T) {
	sum := func(args ...string) string {
		return one(t, "Deployment", template(t, args...).Deployments).Spec.Template.Annotations["checksum/config"]
	}
	base := sum()
	if changed := sum("--set", "config.scrape_timeout=20s"); changed == base {
		t.Error("a config change leaves checksum/config as is: the pod would not roll")
	}
	if same := sum("--set", "resources.limits.memory=256Mi"); same != base {
		t.Error("a change outside the config changes checksum/config")
	}
}

// TestConfigAsAString: config may be the whole file, used as is.
func TestConfigAsAString(t *testing.T) {
	text, err := os.ReadFile("../../examples/kubernetes/config.yml")
	if err != nil {
		t.Fatal(err)
	}
	r := template(t, "--set-file", "config=../../examples/kubernetes/config.yml")
	if got := exporterConfig(t, r); strings.TrimSpace(got) != strings.TrimSpace(string(text)) {
		t.Errorf("config.yml is not the file as given:\n%s", got)
	}
	checkConfig(t, r)
}

// TestAccountsForm: the documented way to switch to the accounts form (null
// the single-account keys, bring each account's key) renders a valid config.
func TestAccountsForm(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(`config:
  scp: null
  images: null
  discovery: null
  accounts:
    - name: prod
      scp:
        region: kr-west1
        environment: e
        secret_key_file: `+secretKeyPath+`
      discovery:
        enabled: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	checkConfig(t, template(t, "-f", values))
}

// TestBasicAuth: with basic_auth_users in the web config, liveness checks
// the port, readiness sends the configured header (or checks the port),
// and the ServiceMonitor sends credentials from a Secret.
func TestBasicAuth(t *testing.T) {
	auth := []string{
		"--set", "webConfig.existingSecret=scp-exporter-web",
		"--set", "webConfig.scheme=HTTPS",
		"--set", "webConfig.basicAuth.enabled=true",
		"--set", "webConfig.basicAuth.existingSecret=scp-exporter-scrape",
	}
	t.Run("with a probe header", func(t *testing.T) {
		const header = "Basic cHJvYmU6c2VjcmV0"
		r := template(t, append(append(slices.Clone(withMonitoring), auth...), "--set", "webConfig.basicAuth.probeAuthorization="+header)...)
		d := one(t, "Deployment", r.Deployments)
		c := container(t, d)
		checkPodLockedDown(t, d)
		if !slices.Contains(c.Args, "--web.config.file=/etc/scp_exporter/web/web-config.yml") {
			t.Errorf("args %v lack --web.config.file", c.Args)
		}
		if v := volumesByMount(t, d.Spec.Template.Spec, c)["/etc/scp_exporter/web"]; v.Secret == nil || v.Secret.SecretName != "scp-exporter-web" {
			t.Errorf("web config volume %+v", v)
		}
		if p := c.LivenessProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "metrics" || p.HTTPGet != nil {
			t.Errorf("liveness probe %+v, want a TCP check of the metrics port", p)
		}
		p := c.ReadinessProbe
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/-/ready" || p.HTTPGet.Scheme != corev1.URISchemeHTTPS ||
			len(p.HTTPGet.HTTPHeaders) != 1 || p.HTTPGet.HTTPHeaders[0] != (corev1.HTTPHeader{Name: "Authorization", Value: header}) {
			t.Errorf("readiness probe %+v, want GET https /-/ready with the Authorization header", p)
		}
		ep := one(t, "ServiceMonitor", r.ServiceMonitors).Spec.Endpoints[0]
		if ep.Scheme == nil || *ep.Scheme != "https" || ep.BasicAuth == nil ||
			ep.BasicAuth.Username.Name != "scp-exporter-scrape" || ep.BasicAuth.Username.Key != "username" ||
			ep.BasicAuth.Password.Name != "scp-exporter-scrape" || ep.BasicAuth.Password.Key != "password" {
			t.Errorf("ServiceMonitor endpoint %+v, want https with basic auth from scp-exporter-scrape", ep)
		}
	})
	t.Run("without a probe header", func(t *testing.T) {
		c := container(t, one(t, "Deployment", template(t, auth...).Deployments))
		for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if p == nil || p.TCPSocket == nil || p.HTTPGet != nil {
				t.Errorf("%s probe %+v, want a TCP check", name, p)
			}
		}
	})
	t.Run("TLS only", func(t *testing.T) {
		c := container(t, one(t, "Deployment", template(t, "--set", "webConfig.existingSecret=scp-exporter-web", "--set", "webConfig.scheme=https").Deployments))
		for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS || len(p.HTTPGet.HTTPHeaders) != 0 {
				t.Errorf("%s probe %+v, want GET over HTTPS without credentials", name, p)
			}
		}
	})
	for name, args := range map[string][]string{
		"basic auth without a web config":          {"--set", "webConfig.basicAuth.enabled=true"},
		"a ServiceMonitor without its credentials": append(slices.Clone(withMonitoring), auth[:6]...),
		"a scheme that is neither HTTP nor HTTPS":  {"--set", "webConfig.scheme=ftp"},
	} {
		if _, err := runHelm(t, append([]string{"template", "scp", chartDir}, args...)...); err == nil {
			t.Errorf("%s: helm template succeeds, want an error", name)
		}
	}
}

// TestNoSecretWired: existingSecret "" leaves credentials to extraEnv and
// extraVolumes.
func TestNoSecretWired(t *testing.T) {
	c := container(t, one(t, "Deployment", template(t, "--set", "existingSecret=").Deployments))
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" {
			t.Errorf("env %+v, want no credentials", c.Env)
		}
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/run/secrets/scp_exporter" {
			t.Errorf("the secret key is still mounted: %+v", m)
		}
	}
}

// TestRulesFileIsTheRepositoryOne: the chart's rules file and dashboards
// are plain files (no symbolic link, which helm warns about on every
// command), the same as alerts/scp_exporter.rules.yml and dashboards/*.json
// (`make mixin` writes them all), no dashboard is left over, and `helm
// package` stores every one of them, so
// the packaged chart needs no repository.
func TestRulesFileIsTheRepositoryOne(t *testing.T) {
	dashboards, err := filepath.Glob("../../dashboards/*.json")
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboards in ../../dashboards (%v)", err)
	}
	copies := map[string]string{"../scp-exporter/files/scp_exporter.rules.yml": rulesPath}
	for _, d := range dashboards {
		copies["../scp-exporter/files/"+filepath.Base(d)] = d
	}
	// No dashboard in the chart that the repository no longer has.
	if inChart, _ := filepath.Glob(chartDir + "/files/*.json"); len(inChart) != len(dashboards) {
		t.Fatalf("the chart's files/ has dashboards %v, the repository %v: run make mixin", inChart, dashboards)
	}
	for copied, orig := range copies {
		fi, err := os.Lstat(copied)
		if err != nil {
			t.Fatalf("%v: run make mixin", err)
		}
		if !fi.Mode().IsRegular() {
			t.Fatalf("%s is not a regular file (%v): helm warns about symbolic links; run make mixin", copied, fi.Mode())
		}
		if inChart, err := os.ReadFile(copied); err != nil {
			t.Fatal(err)
		} else if want, err := os.ReadFile(orig); err != nil {
			t.Fatal(err)
		} else if !bytes.Equal(inChart, want) {
			t.Fatalf("%s differs from %s: run make mixin", copied, orig)
		}
	}
	dir := t.TempDir()
	if _, err := runHelm(t, "package", chartDir, "--destination", dir); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(dir, "scp-exporter-"+chartVersion(t)+".tgz")
	for copied, orig := range copies {
		want, err := os.ReadFile(orig)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := fileInTarGz(pkg, "scp-exporter/files/"+filepath.Base(copied)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("the packaged chart's %s differs from %s (%v)", filepath.Base(copied), orig, err)
		}
	}
	// The packaged chart renders the same PrometheusRule.
	out, err := runHelm(t, append([]string{"template", "scp", pkg}, withMonitoring...)...)
	if err != nil {
		t.Fatal(err)
	}
	checkRules(t, one(t, "PrometheusRule", decodeAll(t, out).PrometheusRules))
}

// TestChartFollowsTheRelease: appVersion is the VERSION file.
func TestChartFollowsTheRelease(t *testing.T) {
	v, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := appVersion(t), strings.TrimSpace(string(v)); got != want {
		t.Errorf("Chart.yaml appVersion %q, VERSION %q", got, want)
	}
}

func chartMeta(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("../scp-exporter/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func appVersion(t *testing.T) string {
	t.Helper()
	s, _ := chartMeta(t)["appVersion"].(string)
	return s
}
func chartVersion(t *testing.T) string {
	t.Helper()
	s, _ := chartMeta(t)["version"].(string)
	return s
}

// volumesByMount maps each of the container's mount paths to its volume.
func volumesByMount(t *testing.T, spec corev1.PodSpec, c corev1.Container) map[string]corev1.Volume {
	t.Helper()
	byName := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		byName[v.Name] = v
	}
	out := map[string]corev1.Volume{}
	for _, m := range c.VolumeMounts {
		v, ok := byName[m.Name]
		if !ok {
			t.Errorf("mount %s names no volume", m.Name)
		}
		if !m.ReadOnly && m.MountPath != stateDir {
			t.Errorf("mount %s is writable: only the state directory %s may be", m.MountPath, stateDir)
		}
		out[m.MountPath] = v
	}
	return out
}

// labelsMatch reports whether every selector label is among labels.
func labelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func fileInTarGz(path, name string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New(name + " not in " + path)
		}
		if err != nil {
			return nil, err
		}
		if h.Name == name {
			return io.ReadAll(tr)
		}
	}
}

// stateDir is where the chart keeps the exporter's state (--storage.path).
const stateDir = "/data"

// TestStorage: the state directory is an emptyDir by default, a claim of
// the chart's own (or an existing one) with persistence, and then the
// Deployment recreates its pod rather than roll it, so a ReadWriteOnce
// volume is never wanted twice.
func TestStorage(t *testing.T) {
	r := template(t)
	d := one(t, "Deployment", r.Deployments)
	c := container(t, d)
	if !slices.Contains(c.Args, "--storage.path="+stateDir) {
		t.Errorf("args %v lack --storage.path=%s", c.Args, stateDir)
	}
	if v := volumesByMount(t, d.Spec.Template.Spec, c)[stateDir]; v.EmptyDir == nil {
		t.Errorf("state volume %+v, want an emptyDir by default", v)
	}
	if len(r.Claims) != 0 || d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		t.Errorf("claims %d, strategy %q by default; want none and a rolling update", len(r.Claims), d.Spec.Strategy.Type)
	}

	r = template(t, "--set", "persistence.enabled=true", "--set", "persistence.size=2Gi")
	d = one(t, "Deployment", r.Deployments)
	pvc := one(t, "PersistentVolumeClaim", r.Claims)
	if v := volumesByMount(t, d.Spec.Template.Spec, container(t, d))[stateDir]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Name {
		t.Errorf("state volume %+v, want the claim %s", v, pvc.Name)
	}
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "2Gi" || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("claim of %s, strategy %q; want 2Gi and Recreate", q.String(), d.Spec.Strategy.Type)
	}

	r = template(t, "--set", "persistence.enabled=true", "--set", "persistence.existingClaim=mine")
	d = one(t, "Deployment", r.Deployments)
	if v := volumesByMount(t, d.Spec.Template.Spec, container(t, d))[stateDir]; len(r.Claims) != 0 || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "mine" {
		t.Errorf("with an existing claim: %d claims rendered, volume %+v; want none and the claim mine", len(r.Claims), v)
	}
}
