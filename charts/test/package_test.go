package charttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestChartPackageCarriesTheImageRepository: make chart-package, as the
// release workflow runs it with the repository the image was pushed to,
// packages a chart whose values name that repository (the chart in the
// repository keeps its placeholder), that still passes its schema and
// renders a Deployment running that image at the chart's appVersion;
// without IMAGE_REPOSITORY the package keeps the placeholder.
func TestChartPackageCarriesTheImageRepository(t *testing.T) {
	helm := helmBin(t)
	if _, err := exec.LookPath("make"); err != nil {
		skipOrFail(t, "make not found")
	}
	const repo = "registry.example.invalid/team/scp_exporter"
	for _, tc := range []struct{ repository, want string }{{repo, repo}, {"", "scp_exporter"}} {
		dir := t.TempDir()
		cmd := exec.CommandContext(t.Context(), "make", "-s", "-C", repoRoot, "chart-package",
			"HELM="+helm, "CHART_PACKAGE_DIR="+dir, "IMAGE_REPOSITORY="+tc.repository)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make chart-package IMAGE_REPOSITORY=%s: %v\n%s", tc.repository, err, out)
		}
		pkgs, err := filepath.Glob(filepath.Join(dir, "scp-exporter-*.tgz"))
		if err != nil || len(pkgs) != 1 {
			t.Fatalf("make chart-package wrote %v (%v), want one scp-exporter-<version>.tgz", pkgs, err)
		}
		out, err := runHelm(t, "show", "values", pkgs[0])
		if err != nil {
			t.Fatal(err)
		}
		var values struct {
			Image struct {
				Repository string `json:"repository"`
			} `json:"image"`
		}
		if err := yaml.Unmarshal([]byte(out), &values); err != nil {
			t.Fatal(err)
		}
		if values.Image.Repository != tc.want {
			t.Errorf("IMAGE_REPOSITORY=%s: the packaged chart's image.repository is %q, want %q", tc.repository, values.Image.Repository, tc.want)
		}
		// The schema (helm template validates the values against it) and
		// the image the Deployment runs.
		rendered, err := runHelm(t, "template", "scp", pkgs[0], "--namespace", "monitoring")
		if err != nil {
			t.Fatalf("the packaged chart does not render: %v", err)
		}
		c := container(t, one(t, "Deployment", decodeAll(t, rendered).Deployments))
		if want := tc.want + ":" + appVersion(t); c.Image != want {
			t.Errorf("IMAGE_REPOSITORY=%s: the packaged chart runs %q, want %q", tc.repository, c.Image, want)
		}
	}
	// The chart in the repository is untouched.
	v, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(v), repo) {
		t.Errorf("make chart-package edited %s/values.yaml, not a copy", chartDir)
	}
}
