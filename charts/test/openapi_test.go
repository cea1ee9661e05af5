package charttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"
)

// The schemas every rendered object is validated against, offline: the
// Kubernetes OpenAPI v3 documents (api/openapi-spec/v3) of the Kubernetes
// release whose k8s.io/api this module uses, and the prometheus-operator
// CRDs (example/prometheus-operator-crd). Both come as Go modules through
// the module proxy (`go mod download`, about 22 MB and 4 MB, cached in the
// module cache after the first run), not as dependencies of this module.
// The proxy serves the prometheus-operator root module only up to v0.85.0,
// older than the v0.95.2 Go types the objects are also decoded into; the
// fields the chart sets are in both.
const (
	kubernetesModule = "k8s.io/kubernetes@v1.37.2"
	operatorModule   = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
)

// Where each apiVersion's schemas are, in kubernetesModule.
var openAPIFiles = map[string]string{
	"v1":                   "api__v1_openapi.json",
	"apps/v1":              "apis__apps__v1_openapi.json",
	"networking.k8s.io/v1": "apis__networking.k8s.io__v1_openapi.json",
}

// The CRDs, in operatorModule.
var crdFiles = map[string]string{
	"monitoring.coreos.com/v1 ServiceMonitor": "monitoring.coreos.com_servicemonitors.yaml",
	"monitoring.coreos.com/v1 PrometheusRule": "monitoring.coreos.com_prometheusrules.yaml",
}

var (
	moduleDirs sync.Map // module@version -> dir or error
	schemasMu  sync.Mutex
	schemas    = map[string]*spec.Schema{} // "apiVersion Kind" -> schema, refs inlined
)

// moduleDir downloads module@version through the Go module proxy (go mod
// download, outside this module so that go.mod is left as is) and returns
// its directory. Without it the test is skipped locally and fails under CI.
func moduleDir(t *testing.T, module string) string {
	t.Helper()
	if v, ok := moduleDirs.Load(module); ok {
		if err, bad := v.(error); bad {
			t.Fatal(err)
		}
		return v.(string)
	}
	cmd := exec.CommandContext(t.Context(), "go", "mod", "download", "-json", module)
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct{ Dir, Error string }
	_ = json.Unmarshal(stdout.Bytes(), &info)
	if runErr != nil || info.Dir == "" {
		skipOrFail(t, fmt.Sprintf("go mod download %s (the OpenAPI validation's schemas): %v %s %s", module, runErr, info.Error, stderr.String()))
	}
	moduleDirs.Store(module, info.Dir)
	return info.Dir
}

// schemaFor returns the schema of apiVersion and kind.
func schemaFor(t *testing.T, apiVersion, kind string) *spec.Schema {
	t.Helper()
	key := apiVersion + " " + kind
	schemasMu.Lock()
	defer schemasMu.Unlock()
	if s, ok := schemas[key]; ok {
		return s
	}
	var s *spec.Schema
	if file, ok := crdFiles[key]; ok {
		s = crdSchema(t, filepath.Join(moduleDir(t, operatorModule), "example", "prometheus-operator-crd", file), apiVersion)
	} else if file, ok := openAPIFiles[apiVersion]; ok {
		s = openAPISchema(t, filepath.Join(moduleDir(t, kubernetesModule), "api", "openapi-spec", "v3", file), apiVersion, kind)
	} else {
		t.Fatalf("no schema known for %s", key)
	}
	schemas[key] = s
	return s
}

// openAPISchema finds kind's schema in an OpenAPI v3 document by its
// x-kubernetes-group-version-kind, with every $ref inlined.
func openAPISchema(t *testing.T, path, apiVersion, kind string) *spec.Schema {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]spec.Schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok {
		group, version = "", apiVersion
	}
	for name, s := range doc.Components.Schemas {
		gvks, _ := s.Extensions["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			m, _ := g.(map[string]any)
			if m["group"] == group && m["version"] == version && m["kind"] == kind {
				out, err := inline(s, doc.Components.Schemas, map[string]bool{name: true})
				if err != nil {
					t.Fatalf("%s %s: %v", path, name, err)
				}
				return &out
			}
		}
	}
	t.Fatalf("%s has no schema for %s %s", path, apiVersion, kind)
	return nil
}

// crdSchema returns the openAPIV3Schema of a CRD's version.
func crdSchema(t *testing.T, path, apiVersion string) *spec.Schema {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Group    string `json:"group"`
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, v := range crd.Spec.Versions {
		if crd.Spec.Group+"/"+v.Name != apiVersion {
			continue
		}
		var s spec.Schema
		if err := json.Unmarshal(v.Schema.OpenAPIV3Schema, &s); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out, err := inline(s, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return &out
	}
	t.Fatalf("%s has no version %s", path, apiVersion)
	return nil
}

// inline returns s with each $ref replaced by the schema it names (a
// cycle by an empty schema, which accepts anything), and every object
// schema that lists properties closed to others (additionalProperties:
// false) unless it preserves unknown fields: the API server drops or
// refuses a field it does not know, and a typo should fail here.
func inline(s spec.Schema, defs map[string]spec.Schema, seen map[string]bool) (spec.Schema, error) {
	if ref := s.Ref.String(); ref != "" {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		d, ok := defs[name]
		if !ok {
			return s, fmt.Errorf("unresolved $ref %s", ref)
		}
		if seen[name] {
			return spec.Schema{}, nil
		}
		seen[name] = true
		defer delete(seen, name)
		return inline(d, defs, seen)
	}
	out := s
	if s.Format == "int-or-string" {
		// A format no registry knows; oneOf says integer or string.
		out.Format = ""
	}
	var err error
	each := func(list []spec.Schema) []spec.Schema {
		if list == nil {
			return nil
		}
		res := make([]spec.Schema, len(list))
		for i, x := range list {
			var e error
			if res[i], e = inline(x, defs, seen); e != nil {
				err = e
			}
		}
		return res
	}
	out.AllOf, out.OneOf, out.AnyOf = each(s.AllOf), each(s.OneOf), each(s.AnyOf)
	if s.Properties != nil {
		out.Properties = make(map[string]spec.Schema, len(s.Properties))
		for k, v := range s.Properties {
			x, e := inline(v, defs, seen)
			if e != nil {
				err = e
			}
			out.Properties[k] = x
		}
	}
	if s.Items != nil {
		items := &spec.SchemaOrArray{Schemas: each(s.Items.Schemas)}
		if s.Items.Schema != nil {
			x, e := inline(*s.Items.Schema, defs, seen)
			if e != nil {
				err = e
			}
			items.Schema = &x
		}
		out.Items = items
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		x, e := inline(*s.AdditionalProperties.Schema, defs, seen)
		if e != nil {
			err = e
		}
		out.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &x}
	}
	if preserve, _ := s.Extensions["x-kubernetes-preserve-unknown-fields"].(bool); len(out.Properties) > 0 && out.AdditionalProperties == nil && !preserve {
		out.AdditionalProperties = &spec.SchemaOrBool{Allows: false}
	}
	return out, err
}

// validateStream validates each object of a YAML stream against its
// schema and returns one line per problem, "Kind name: problem".
// (The Kubernetes documents list few enums: a wrong enum value, such as a
// protocol, is left to the API server.)
func validateStream(t *testing.T, stream string) []string {
	t.Helper()
	var problems []string
	for _, doc := range strings.Split("\n"+stream, "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		apiVersion, _ := obj["apiVersion"].(string)
		kind, _ := obj["kind"].(string)
		name, _ := obj["metadata"].(map[string]any)["name"].(string)
		res := validate.NewSchemaValidator(schemaFor(t, apiVersion, kind), nil, "", strfmt.Default).Validate(obj)
		for _, e := range res.Errors {
			problems = append(problems, fmt.Sprintf("%s %s: %v", kind, name, e))
		}
	}
	return problems
}

// TestRenderedObjectsMatchTheOpenAPISchema: every object of every
// combination the README and docs show (and the chart with every optional
// piece on) is valid against the Kubernetes OpenAPI schema, or for the
// ServiceMonitor and PrometheusRule against their CRD's schema: required
// fields, types, formats, enums, and no field the schema does not list.
func TestRenderedObjectsMatchTheOpenAPISchema(t *testing.T) {
	combos := documented(t)
	combos["defaults"] = nil
	combos["every optional piece"] = []string{
		"--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true",
		"--set", "networkPolicy.enabled=true", "--set", "networkPolicy.ingress.from[0].namespaceSelector.matchLabels.a=b",
		"--set", "persistence.enabled=true", "--set", "serviceAccount.annotations.a=b",
		"--set", "extraEnvFrom[0].secretRef.name=proxy",
		"--set", "topologySpreadConstraints[0].maxSkew=1", "--set", "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
		"--set", "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
		"--set", "serviceMonitor.jobLabel=app.kubernetes.io/name", "--set", "serviceMonitor.targetLabels={app.kubernetes.io/instance}",
		"--set", "prometheusRule.additionalRuleLabels.team=security", "--set", "prometheusRule.disabledAlerts.SCPExporterDown=true",
		"--set", "webConfig.existingSecret=scp-exporter-web", "--set", "webConfig.scheme=HTTPS",
		"--set", "webConfig.basicAuth.enabled=true", "--set", "webConfig.basicAuth.existingSecret=scp-exporter-scrape",
		"--set", "webConfig.basicAuth.probeAuthorization=Basic cHJvYmU6c2VjcmV0",
	}
	for _, name := range slices.Sorted(maps.Keys(combos)) {
		t.Run(name, func(t *testing.T) {
			out, err := runHelm(t, append([]string{"template", "scp", chartDir, "--namespace", "monitoring"}, combos[name]...)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range validateStream(t, out) {
				t.Error(p)
			}
		})
	}
}

// TestOpenAPIValidationCatchesMistakes: objects with a missing required
// field, a wrong type, a field the schema does not have, or a value
// outside the CRD's pattern fail, each with its path.
func TestOpenAPIValidationCatchesMistakes(t *testing.T) {
	for _, c := range []struct {
		doc  string
		want []string
	}{
		{`apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - image: x
          ports: [{containerPort: http}]
          securityContext: {runAsNonRoot: "yes"}
          resourcez: {}
`, []string{"spec.template.spec.containers[0].name", "containerPort", "runAsNonRoot", "resourcez"}},
		{`apiVersion: v1
kind: Service
metadata: {name: bad, labelz: {}}
spec: {ports: [{port: "9857"}]}
`, []string{"labelz", "spec.ports[0].port"}},
		{`apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: bad}
spec:
  selector: {}
  endpoints: [{port: metrics, interval: 1 minute}]
`, []string{"interval"}},
		{`apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: bad}
spec:
  groups: [{name: g, rules: [{alert: A, exprr: up}]}]
`, []string{"exprr"}},
	} {
		problems := strings.Join(validateStream(t, c.doc), "\n")
		for _, w := range c.want {
			if !strings.Contains(problems, w) {
				t.Errorf("no problem about %s found in:\n%s\nproblems:\n%s", w, c.doc, problems)
			}
		}
	}
}
