package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-jsonnet"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// The series selector of TestSeriesSelectorReachesEverySeries: two
// matchers, one a regular expression with characters PromQL must keep.
const (
	seriesSelector = `job="scp-prod", env!~"stag.*|t{2}"`
	selectorJob    = "scp-prod"
)

// scpSelectors parses expr and returns its selectors of scp_* and scp:*
// series (in vector and range selectors, subqueries, function arguments and
// joins alike), and of up.
func scpSelectors(t *testing.T, where, expr string) (scp, up []*parser.VectorSelector) {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %v\n%s", where, err, expr)
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		switch {
		case !ok:
		case strings.HasPrefix(vs.Name, "scp_") || strings.HasPrefix(vs.Name, "scp:"):
			scp = append(scp, vs)
		case vs.Name == "up":
			up = append(up, vs)
		default:
			t.Errorf("%s selects %s, which is no series of the exporter: %q", where, vs.Name, expr)
		}
		return nil
	})
	return scp, up
}

// hasMatcher reports how many of the selector's matchers are want.
func hasMatcher(vs *parser.VectorSelector, typ labels.MatchType, name, value string) int {
	n := 0
	for _, m := range vs.LabelMatchers {
		if m.Type == typ && m.Name == name && m.Value == value {
			n++
		}
	}
	return n
}

// labelless returns the recorded series of the recording group that carry
// none of the exporter's labels: vector() (the thresholds) or an
// aggregation by labels without job and instance (the image names). A
// selector on them would select nothing, so the mixin leaves them out.
func labelless(t *testing.T, recording group) []string {
	t.Helper()
	var names []string
	for _, r := range recording.Rules {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
		if err != nil {
			t.Fatalf("%s: %v", r.Record, err)
		}
		switch e := e.(type) {
		case *parser.Call:
			if e.Func.Name == "vector" {
				names = append(names, r.Record)
			}
		case *parser.AggregateExpr:
			if !e.Without && !slices.Contains(e.Grouping, "job") && !slices.Contains(e.Grouping, "instance") {
				names = append(names, r.Record)
			}
		}
	}
	return names
}

// TestSeriesSelectorReachesEverySeries: with _config.scpSeriesSelector set,
// every selector of an scp_* series and of a recorded scp:* series in every
// recording rule and alert carries its matchers, once; the recorded series
// without the exporter's labels (image names, thresholds) none; `up` keeps
// scpExporterSelector alone; each expression has as many selectors as with
// the default; promtool accepts the output. With the default, empty, the
// output is the checked-in file (TestCheckedInFilesAreWhatTheMixinMakes).
func TestSeriesSelectorReachesEverySeries(t *testing.T) {
	defGroups, _ := rulesWith(t, "")
	groups, raw := rulesWith(t, fmt.Sprintf("{ _config+:: { scpSeriesSelector: %q } }", seriesSelector))
	if len(groups) != len(defGroups) {
		t.Fatalf("%d groups with the selector, %d without", len(groups), len(defGroups))
	}
	unselected := labelless(t, groups[0])
	for _, want := range []string{"scp:image_display_name:info", "scp:discovery_max_age_seconds"} {
		if !slices.Contains(unselected, want) {
			t.Errorf("%s is not among the recorded series without labels %v; the test reads the rules wrong", want, unselected)
		}
	}
	var selected, left, rules int
	for gi, g := range groups {
		if len(g.Rules) != len(defGroups[gi].Rules) {
			t.Fatalf("group %s: %d rules with the selector, %d without", g.Name, len(g.Rules), len(defGroups[gi].Rules))
		}
		for ri, r := range g.Rules {
			rules++
			where := g.Name + "/" + r.Alert + r.Record
			scp, up := scpSelectors(t, where, r.Expr)
			defSCP, defUp := scpSelectors(t, where+" (default)", defGroups[gi].Rules[ri].Expr)
			if len(scp) != len(defSCP) || len(up) != len(defUp) {
				t.Errorf("%s: %d scp and %d up selectors with the selector, %d and %d without", where, len(scp), len(up), len(defSCP), len(defUp))
			}
			for _, vs := range scp {
				job := hasMatcher(vs, labels.MatchEqual, "job", selectorJob)
				env := hasMatcher(vs, labels.MatchNotRegexp, "env", "stag.*|t{2}")
				switch {
				case slices.Contains(unselected, vs.Name):
					left++
					if job+env != 0 {
						t.Errorf("%s: %s has no job label but is selected: %s", where, vs.Name, vs)
					}
				case job != 1 || env != 1:
					t.Errorf("%s: %s does not carry %s once: %s", where, vs.Name, seriesSelector, vs)
				default:
					selected++
				}
			}
			for _, vs := range up {
				if hasMatcher(vs, labels.MatchEqual, "job", selectorJob) != 0 {
					t.Errorf("%s: up carries scpSeriesSelector, which is scpExporterSelector's: %s", where, vs)
				}
			}
		}
	}
	// 19 selectors in the recording rules and 38 in the alerts, today.
	if selected < 50 || left < 10 || rules < 20 {
		t.Errorf("%d selectors carry the selector, %d are left out, in %d rules; the test reads the rules wrong", selected, left, rules)
	}
	promtoolCheck(t, raw)
}

// TestSeriesMarks: lib/utils.libsonnet's series() writes each ${...} mark as
// a selector with the extra matchers added, braces in quoted values
// included, and refuses a mark it cannot read or that names no series of
// the exporter.
func TestSeriesMarks(t *testing.T) {
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{filepath.Join(root, mixinDir)}})
	eval := func(s, extra string) (string, error) {
		js, err := vm.EvaluateAnonymousSnippet("t.jsonnet", fmt.Sprintf("(import 'lib/utils.libsonnet').series(%q, %q)", s, extra))
		if err != nil {
			return "", err
		}
		var out string
		if err := json.Unmarshal([]byte(js), &out); err != nil {
			return "", fmt.Errorf("decode %s: %w", js, err)
		}
		return out, nil
	}
	for _, c := range []struct{ in, extra, want string }{
		{`${scp_a} + ${scp:b:c}[5m]`, ``, `scp_a + scp:b:c[5m]`},
		{`${scp_a} + ${scp:b:c}[5m]`, `job="x"`, `scp_a{job="x"} + scp:b:c{job="x"}[5m]`},
		{`max(${scp_a{b="1", c=~"x|y"}})`, ``, `max(scp_a{b="1", c=~"x|y"})`},
		{`max(${scp_a{b="1", c=~"x|y"}})`, `job=~"a{2}"`, `max(scp_a{b="1", c=~"x|y", job=~"a{2}"})`},
		{`${scp_a{b="}\"}"}}`, `j="k"`, `scp_a{b="}\"}", j="k"}`},
		{`up{job="x"} == 0`, `job="y"`, `up{job="x"} == 0`},
	} {
		out, err := eval(c.in, c.extra)
		if err != nil {
			t.Errorf("series(%q, %q): %v", c.in, c.extra, err)
			continue
		}
		if out != c.want {
			t.Errorf("series(%q, %q) = %q, want %q", c.in, c.extra, out, c.want)
		}
	}
	for _, in := range []string{`${up}`, `${scp_a`, `${scp_a{b="c"}`, `${scp_a{b="c}`, `${ scp_a}`, `${}`} {
		if out, err := eval(in, ""); err == nil {
			t.Errorf("series(%q) = %q, want an error", in, out)
		}
	}
}

// The unit tests' jobs of the exporter, and the one relabelTests gives
// them.
var (
	testJobs    = regexp.MustCompile(`job="(scp|scp_exporter)"`)
	testJobKeys = regexp.MustCompile(`(\bjob: )(scp_exporter|scp)\b`)
	testAlert   = regexp.MustCompile(`^\s*alertname: (\S+)`)
)

// relabelTests returns the unit tests whose every scp_* input series has
// the job scp or scp_exporter, with that job replaced by job in the scp_*
// input series, the recorded series expected and the labels of the alerts
// expected (SCPExporterDown's excepted: it reads up, left as it is), and
// how many tests it kept. A test with an scp_* series without a job is
// left out: where its alerts would gain the label cannot be read from the
// file.
func relabelTests(t *testing.T, tests []byte, job string) ([]byte, int) {
	t.Helper()
	text := string(tests)
	start := strings.Index(text, "\ntests:\n")
	if start < 0 {
		t.Fatal("the unit tests have no tests:")
	}
	start += len("\ntests:\n")
	var out strings.Builder
	out.WriteString(text[:start])
	kept := 0
	blocks := strings.Split(text[start:], "\n  - name: ")
	for i, b := range blocks {
		if i == 0 {
			// The comments before the first test.
			continue
		}
		lines := strings.Split(b, "\n")
		ok, series := true, 0
		for _, l := range lines {
			if strings.Contains(l, "series: 'scp_") {
				series++
				ok = ok && testJobs.MatchString(l)
			}
		}
		if !ok || series == 0 {
			continue
		}
		kept++
		alert := ""
		for j, l := range lines {
			if m := testAlert.FindStringSubmatch(l); m != nil {
				alert = m[1]
			}
			switch {
			case strings.Contains(l, "series: 'scp_") || strings.Contains(l, "labels: 'scp:"):
				lines[j] = testJobs.ReplaceAllString(l, `job="`+job+`"`)
			case alert != "SCPExporterDown":
				lines[j] = testJobKeys.ReplaceAllString(l, "${1}"+job)
			}
		}
		out.WriteString("  - name: " + strings.Join(lines, "\n"))
		if !strings.HasSuffix(out.String(), "\n") {
			out.WriteString("\n")
		}
	}
	return []byte(out.String()), kept
}

// TestSeriesSelectorScopesTheUnitTests runs the rules' unit tests
// (alerts/scp_exporter.rules.test.yml, promtool test rules) on the rules
// made with a series selector: one that selects every series of the tests
// (job!="scp-staging") leaves them all passing, so scoping mutes nothing it
// selects; one that selects none of them (job="scp-staging") leaves the
// security alerts silent, so the tests expecting them fail. A negative
// matcher also selects a series without a job, so a recorded series that
// lost the label would still pass the first: job="scp-prod" on the tests
// whose exporter series all carry a job, relabelled scp-prod, passes too
// only if every recorded series the alerts read keeps job.
func TestSeriesSelectorScopesTheUnitTests(t *testing.T) {
	promtool := promtoolPath(t, "test rules")
	if promtool == "" {
		return
	}
	tests, err := os.ReadFile(filepath.Join(root, "alerts", "scp_exporter.rules.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(selector string, tests []byte) (string, error) {
		files, err := generate(root, fmt.Sprintf("{ _config+:: { scpSeriesSelector: %q } }", selector))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		for name, b := range map[string][]byte{filepath.Base(rulesFile): files[rulesFile], "test.yml": tests} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(promtool, "test", "rules", "test.yml")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(`job!="scp-staging"`, tests); err != nil {
		t.Errorf("the unit tests fail on the rules scoped to job!=\"scp-staging\": %v\n%s", err, out)
	}
	relabelled, kept := relabelTests(t, tests, "scp-prod")
	if kept < 20 || !strings.Contains(string(relabelled), "alertname: SCPImageSharedWithUnexpectedMember") ||
		!strings.Contains(string(relabelled), "job: scp-prod") {
		t.Fatalf("relabelTests kept %d tests, want most of them, with the sharing alerts", kept)
	}
	if out, err := run(`job="scp-prod"`, relabelled); err != nil {
		t.Errorf("the %d unit tests relabelled job=\"scp-prod\" fail on the rules scoped to it: %v\n%s", kept, err, out)
	}
	out, err := run(`job="scp-staging"`, tests)
	if err == nil {
		t.Fatalf("the unit tests pass on the rules scoped to a job they have no series of:\n%s", out)
	}
	for _, alert := range []string{"SCPImageSharedWithUnexpectedMember", "SCPImageVisibilityUnexpected", "SCPImageAcceptedFromUnexpectedOwner"} {
		if !strings.Contains(out, "alertname: "+alert+",") {
			t.Errorf("%s still fires on rules scoped to a job the tests have no series of", alert)
		}
	}
}
