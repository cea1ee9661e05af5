package e2e

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

func TestVersionFlagPrintsBuildInformation(t *testing.T) {
	out, err := exec.Command(exporterBinary(t), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	for _, want := range []string{"scp_exporter, version 0.0.0-e2e", "branch: e2e", "revision: e2etest", "go version:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--version output lacks %q:\n%s", want, out)
		}
	}
}

// TestConfigCheckAcceptsTheExampleConfig runs --config.check on
// config.example.yml as shipped, with the keys in the environment as its
// first comment shows, and requires exit 0. Without them the check names
// the two environment variables.
func TestConfigCheckAcceptsTheExampleConfig(t *testing.T) {
	const example = "../config.example.yml"
	run := func(env ...string) (string, error) {
		cmd := exec.Command(exporterBinary(t), "--config.check", "--config.file="+example)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("SCP_ACCESS_KEY=example-access", "SCP_SECRET_KEY=example-secret")
	if err != nil {
		t.Fatalf("config.example.yml as shipped fails --config.check: %v\n%s", err, out)
	}
	if !strings.Contains(out, "is valid") {
		t.Errorf("unexpected output: %s", out)
	}
	out, err = run()
	if err == nil {
		t.Fatalf("--config.check passed without any key:\n%s", out)
	}
	for _, want := range []string{"SCP_ACCESS_KEY", "SCP_SECRET_KEY"} {
		if !strings.Contains(out, want) {
			t.Errorf("without keys, --config.check does not name %s:\n%s", want, out)
		}
	}
}

// TestKubernetesExampleConfigIsValid checks the config that the kustomize
// example turns into its ConfigMap (configMapGenerator) with --config.check.
// charts/test builds the whole kustomization.
func TestKubernetesExampleConfigIsValid(t *testing.T) {
	raw, err := os.ReadFile("../examples/kubernetes/kustomization.yml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		ConfigMapGenerator []struct {
			Name  string   `yaml:"name"`
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	if len(k.ConfigMapGenerator) != 1 || k.ConfigMapGenerator[0].Name != "scp-exporter-config" ||
		!slices.Equal(k.ConfigMapGenerator[0].Files, []string{"config.yml"}) {
		t.Fatalf("kustomization.yml no longer generates scp-exporter-config from config.yml; update this test: %+v", k.ConfigMapGenerator)
	}
	example, err := os.ReadFile("../examples/kubernetes/config.yml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(example)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret_key", "example-secret\n")
	const mounted = "/run/secrets/scp_exporter/secret_key"
	if !strings.Contains(text, mounted) {
		t.Fatalf("the example config no longer reads %s; update this test", mounted)
	}
	cfg := writeFile(t, dir, "config.yml", strings.Replace(text, mounted, secret, 1))
	cmd := exec.Command(exporterBinary(t), "--config.check", "--config.file="+cfg)
	cmd.Env = append(os.Environ(), "SCP_ACCESS_KEY=from-the-secret") // as deployment.yml sets it
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Kubernetes example config is not valid: %v\n%s", err, out)
	}
}

func TestConfigCheckListsEveryProblemAndContactsNothing(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	cfg := writeFile(t, t.TempDir(), "config.yml", `
scp:
  endpoint: `+url+`
  access_key: ak
  secret_key: `+testSecretKey+`
  api_version: "0.9"
  max_concurrency: -1
  max_retries: twice
  tls_confg: {}
images:
  - id: not-a-uuid
  - id: 70a599e0-31e7-49b7-b260-868f441e862b
    expected_members: ["bad id!"]
`)
	cmd := exec.Command(exporterBinary(t), "--config.check", "--config.file="+cfg)
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Fatalf("exit code %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		// A type error and an unknown key, in the user's words, do not
		// hide the problems after them.
		`line 8: scp.max_retries: "twice" is not a whole number`,
		"line 9: scp.tls_confg: unknown field",
		`scp.api_version: unknown api_version "0.9"`,
		"scp.max_concurrency: -1 is not between 1 and 256",
		`images[0].id: invalid id: image id "not-a-uuid" is not a UUID`,
		`images[1].expected_members[0]: invalid id: member id "bad id!"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--config.check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), testSecretKey) {
		t.Errorf("--config.check printed the secret key:\n%s", out)
	}
	if n := fake.TotalRequests() + fake.AuthFailures(); n != 0 {
		t.Errorf("--config.check made %d API calls", n)
	}
}

// TestReadmeFlagTablesListEveryFlag compares the flags --help prints with
// the rows of README.md's flag tables ("| `--name` |" or "| `--name=value` |"): a flag added to the
// binary, or one a library brings (exporter-toolkit's), must be documented.
func TestReadmeFlagTablesListEveryFlag(t *testing.T) {
	out, err := exec.Command(exporterBinary(t), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	flagRE := regexp.MustCompile(`(?m)^\s+(?:-\w, )?--(?:\[no-\])?([a-z][a-z0-9.-]*)`)
	flags := flagRE.FindAllStringSubmatch(string(out), -1)
	if len(flags) < 10 {
		t.Fatalf("found only %d flags in --help:\n%s", len(flags), out)
	}
	for _, m := range flags {
		name := m[1]
		if name == "help" || name == "help-long" || name == "help-man" {
			continue
		}
		row := regexp.MustCompile("(?m)^\\| `--" + regexp.QuoteMeta(name) + "[`=]")
		if !row.Match(readme) {
			t.Errorf("README.md's flag tables have no row for --%s", name)
		}
	}
}
