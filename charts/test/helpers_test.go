package charttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

const (
	repoRoot  = "../.."
	chartDir  = "../scp-exporter"
	rulesPath = "../../alerts/scp_exporter.rules.yml"
	// Where the chart and the kustomize example mount the secret key.
	secretKeyPath = "/run/secrets/scp_exporter/secret_key"
)

// skipOrFail skips the test for want of what msg names, or fails it when
// CI is set: CI installs everything the tests need.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must not skip this test: %s", msg)
	}
	t.Skip(msg)
}

// helmBin returns the helm binary: $HELM (set by make test-chart), else
// helm in PATH. Without one the test is skipped locally and fails under CI.
func helmBin(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		if _, err := os.Stat(h); err != nil {
			t.Fatalf("HELM=%s: %v", h, err)
		}
		return h
	}
	if h, err := exec.LookPath("helm"); err == nil {
		return h
	}
	skipOrFail(t, "helm not found (neither $HELM nor in PATH); run `make test-chart`, which builds the pinned helm into .build/")
	return ""
}

// runHelm runs helm with args and returns its stdout; stderr goes into the
// error.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), helmBin(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// rendered holds the objects of one helm template or kustomize build, each
// decoded strictly into its Go type.
type rendered struct {
	ConfigMaps      []corev1.ConfigMap
	Services        []corev1.Service
	Secrets         []corev1.Secret
	Deployments     []appsv1.Deployment
	ServiceMonitors []monitoringv1.ServiceMonitor
	PrometheusRules []monitoringv1.PrometheusRule
	Claims          []corev1.PersistentVolumeClaim
	ServiceAccounts []corev1.ServiceAccount
	NetworkPolicies []networkingv1.NetworkPolicy
	Kinds           []string // in the order rendered
}

// decodeStrict decodes one YAML document into v and fails on a field that v's
// type does not have (a typo, a field at the wrong level) or a duplicate key.
// decodeAppend decodes doc strictly into a new element of list.
func decodeAppend[T any](doc []byte, list *[]T) error {
	var o T
	if err := decodeStrict(doc, &o); err != nil {
		return err
	}
	*list = append(*list, o)
	return nil
}

func decodeStrict(doc []byte, v any) error {
	return yaml.UnmarshalStrict(doc, v)
}

// decodeAll splits a multi-document YAML stream and decodes each object
// strictly by its kind; an unknown kind fails the test.
func decodeAll(t *testing.T, stream string) *rendered {
	t.Helper()
	r := &rendered{}
	for _, doc := range strings.Split("\n"+stream, "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		var err error
		switch meta.APIVersion + " " + meta.Kind {
		case "v1 ConfigMap":
			err = decodeAppend([]byte(doc), &r.ConfigMaps)
		case "v1 Service":
			err = decodeAppend([]byte(doc), &r.Services)
		case "v1 Secret":
			err = decodeAppend([]byte(doc), &r.Secrets)
		case "apps/v1 Deployment":
			err = decodeAppend([]byte(doc), &r.Deployments)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			err = decodeAppend([]byte(doc), &r.ServiceMonitors)
		case "monitoring.coreos.com/v1 PrometheusRule":
			err = decodeAppend([]byte(doc), &r.PrometheusRules)
		case "v1 PersistentVolumeClaim":
			err = decodeAppend([]byte(doc), &r.Claims)
		case "v1 ServiceAccount":
			err = decodeAppend([]byte(doc), &r.ServiceAccounts)
		case "networking.k8s.io/v1 NetworkPolicy":
			err = decodeAppend([]byte(doc), &r.NetworkPolicies)
		default:
			t.Fatalf("unexpected object %s %s:\n%s", meta.APIVersion, meta.Kind, doc)
		}
		if err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", meta.Kind, err, doc)
		}
		r.Kinds = append(r.Kinds, meta.Kind)
	}
	return r
}

// stripComments drops whole-line comments (helm's "# Source:" lines).
func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// template renders the chart as release "scp" in namespace monitoring.
func template(t *testing.T, args ...string) *rendered {
	t.Helper()
	out, err := runHelm(t, append([]string{"template", "scp", chartDir, "--namespace", "monitoring"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, out)
}

var (
	exporterOnce sync.Once
	exporterPath string
	exporterErr  error
)

// exporterBinary builds scp_exporter from the repository once per run.
func exporterBinary(t *testing.T) string {
	t.Helper()
	exporterOnce.Do(func() {
		dir, err := os.MkdirTemp("", "charttest-") //nolint:usetesting // shared by every test of the run
		if err != nil {
			exporterErr = err
			return
		}
		exporterPath = filepath.Join(dir, "scp_exporter")
		cmd := exec.Command("go", "build", "-o", exporterPath, ".")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			exporterErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if exporterErr != nil {
		t.Fatal(exporterErr)
	}
	return exporterPath
}

// checkConfig runs scp_exporter --config.check on the config the pod gets
// (the ConfigMap's config.yml) with the environment the chart gives its
// container: each variable from a Secret gets a dummy value, and the
// mounted secret key (secretKeyPath, in the config or in a variable such
// as SCP_SECRET_KEY_FILE) is a dummy file.
func checkConfig(t *testing.T, r *rendered) {
	t.Helper()
	text := exporterConfig(t, r)
	if out, err := runConfigCheck(t, text, podEnv(t, r)); err != nil {
		t.Errorf("scp_exporter --config.check: %v\n%s\nconfig:\n%s", err, out, text)
	}
}

// exporterConfig returns config.yml of the ConfigMap the pod mounts.
func exporterConfig(t *testing.T, r *rendered) string {
	t.Helper()
	d := one(t, "Deployment", r.Deployments)
	name := ""
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "config" && v.ConfigMap != nil {
			name = v.ConfigMap.Name
		}
	}
	for _, cm := range r.ConfigMaps {
		if cm.Name == name {
			return cm.Data["config.yml"]
		}
	}
	t.Fatalf("no ConfigMap %q for the pod's config", name)
	return ""
}

// podEnv returns the container's environment as NAME=value, a dummy value
// for each variable from a Secret.
func podEnv(t *testing.T, r *rendered) []string {
	t.Helper()
	var env []string
	for _, e := range container(t, one(t, "Deployment", r.Deployments)).Env {
		v := e.Value
		if e.ValueFrom != nil {
			v = "dummy-" + strings.ToLower(e.Name)
		}
		env = append(env, e.Name+"="+v)
	}
	return env
}

// runConfigCheck runs scp_exporter --config.check on text with env (and
// the test's own environment less any SCP_ variable), secretKeyPath
// replaced by a dummy secret key file in both.
func runConfigCheck(t *testing.T, text string, env []string) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret_key")
	if err := os.WriteFile(secret, []byte("dummy-secret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(text, secretKeyPath, secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), exporterBinary(t), "--config.check", "--config.file="+cfg)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SCP_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	for _, e := range env {
		cmd.Env = append(cmd.Env, strings.ReplaceAll(e, secretKeyPath, secret))
	}
	return cmd.CombinedOutput()
}

// container returns the Deployment's only container.
func container(t *testing.T, d appsv1.Deployment) corev1.Container {
	t.Helper()
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

// one returns the only element of a list of rendered objects.
func one[T any](t *testing.T, kind string, list []T) T {
	t.Helper()
	if len(list) != 1 {
		t.Fatalf("%d %s objects, want 1", len(list), kind)
	}
	return list[0]
}
