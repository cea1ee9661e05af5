package e2e

// The release workflow (.github/workflows/release.yml): its shell steps run
// here with bash, and the order of its jobs read from the file. actionlint
// (make lint-workflows) checks the rest of its syntax.

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// workflowJob is what the tests read of a job of the workflow.
type workflowJob struct {
	Needs yaml.Node `yaml:"needs"`
	If    string    `yaml:"if"`
	Steps []struct {
		Name string            `yaml:"name"`
		Uses string            `yaml:"uses"`
		Run  string            `yaml:"run"`
		Env  map[string]string `yaml:"env"`
	} `yaml:"steps"`
}

// needs returns the jobs the job needs (a name or a list of names).
func (j workflowJob) needs(t *testing.T) []string {
	t.Helper()
	if j.Needs.Kind == 0 {
		return nil
	}
	if j.Needs.Kind == yaml.ScalarNode {
		return []string{j.Needs.Value}
	}
	var names []string
	if err := j.Needs.Decode(&names); err != nil {
		t.Fatal(err)
	}
	return names
}

// releaseWorkflow reads the jobs of .github/workflows/release.yml.
func releaseWorkflow(t *testing.T) map[string]workflowJob {
	t.Helper()
	raw, err := os.ReadFile("../.github/workflows/release.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]workflowJob `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(raw, &wf); err != nil {
		t.Fatal(err)
	}
	return wf.Jobs
}

// runStep runs a step's script with bash -e (as Actions runs `run:`) in dir
// with env added, and returns its output.
func runStep(t *testing.T, script, dir string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestReleaseWorkflowChecksTheTagFirst: the test job, which every other
// job needs, first refuses a tag that is not v$VERSION (before the CI
// run, so that nothing is built or published); the chart job needs the
// image job, so a failed image push publishes no chart pointing at it.
func TestReleaseWorkflowChecksTheTagFirst(t *testing.T) {
	requireTool(t, "bash", "apt-get install -y bash")
	jobs := releaseWorkflow(t)
	test, ok := jobs["test"]
	if !ok {
		t.Fatal("release.yml has no job test")
	}
	check := -1
	for i, s := range test.Steps {
		if strings.Contains(s.Run, "GITHUB_REF_NAME") {
			check = i
			break
		}
		if s.Run != "" {
			t.Fatalf("the test job runs %q before it checks the tag", s.Name)
		}
	}
	if check < 0 {
		t.Fatal("the test job has no step checking GITHUB_REF_NAME against VERSION")
	}
	dir := t.TempDir()
	writeFile(t, dir, "VERSION", "1.4.0\n")
	if out, err := runStep(t, test.Steps[check].Run, dir, "GITHUB_REF_NAME=v1.4.0"); err != nil {
		t.Errorf("tag v1.4.0 with VERSION 1.4.0: %v\n%s", err, out)
	}
	for _, tag := range []string{"v1.3.0", "1.4.0", "v1.4.0-rc.1", "v1.4.00"} {
		out, err := runStep(t, test.Steps[check].Run, dir, "GITHUB_REF_NAME="+tag)
		if err == nil {
			t.Errorf("tag %s with VERSION 1.4.0 passes", tag)
		} else if !strings.Contains(out, tag) || !strings.Contains(out, "v1.4.0") {
			t.Errorf("tag %s: the error names neither the tag nor v1.4.0:\n%s", tag, out)
		}
	}
	for name, j := range jobs {
		if name != "test" && !slices.Contains(j.needs(t), "test") {
			t.Errorf("job %s does not need test (the tag check)", name)
		}
	}
	chart := jobs["chart"]
	if !slices.Contains(chart.needs(t), "image") {
		t.Errorf("the chart job does not need the image job: needs %v", chart.needs(t))
	}
	for _, want := range []string{"needs.test.result == 'success'", "needs.image.result == 'success'", "!cancelled()"} {
		if !strings.Contains(chart.If, want) {
			t.Errorf("the chart job's if: lacks %s: %s", want, chart.If)
		}
	}
	if strings.Contains(chart.If, "always()") {
		t.Errorf("the chart job's if: runs even when the workflow is cancelled: %s", chart.If)
	}
}

// TestReleaseWorkflowMarksPreReleases: the archives job's step that
// creates the forge's release passes --prerelease for a tag with a "-"
// (v1.2.0-rc.1), as make docker-push leaves latest alone for such a
// version, and not for v1.2.0; the notes are the tag's CHANGELOG section.
// gh is a script here that records its arguments.
func TestReleaseWorkflowMarksPreReleases(t *testing.T) {
	requireTool(t, "bash", "apt-get install -y bash")
	var script string
	for _, s := range releaseWorkflow(t)["archives"].Steps {
		if strings.Contains(s.Run, "gh release create") {
			script = s.Run
		}
	}
	if script == "" {
		t.Fatal("the archives job has no step running gh release create")
	}
	bin := t.TempDir()
	writeFile(t, bin, "gh", "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$GH_ARGS\"\n")
	if err := os.Chmod(filepath.Join(bin, "gh"), 0o755); err != nil {
		t.Fatal(err)
	}
	for tag, pre := range map[string]bool{"v1.2.0": false, "v1.2.0-rc.1": true} {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, ".build", "release"), 0o755); err != nil {
			t.Fatal(err)
		}
		v := strings.TrimPrefix(tag, "v")
		writeFile(t, dir, "CHANGELOG.md", "# Changelog\n\n## [9.9.9] - 2026-01-02\n- later\n\n## ["+v+"] - 2026-01-01\n- this one\n\n## [0.1.0]\n- older\n")
		args := filepath.Join(dir, "args")
		out, err := runStep(t, script, dir, "PATH="+bin+":"+os.Getenv("PATH"), "TAG="+tag, "GH_ARGS="+args)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tag, err, out)
		}
		raw, err := os.ReadFile(args)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSpace(string(raw)), "\n")
		if !slices.Equal(got[:4], []string{"release", "create", tag, "--title"}) {
			t.Errorf("%s: gh %q", tag, got)
		}
		if slices.Contains(got, "--prerelease") != pre {
			t.Errorf("%s: --prerelease passed is %v, want %v: gh %q", tag, !pre, pre, got)
		}
		notes, err := os.ReadFile(filepath.Join(dir, ".build", "notes.md"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(notes)) != "- this one" {
			t.Errorf("%s: the notes are %q, want the tag's CHANGELOG section", tag, notes)
		}
	}
}
