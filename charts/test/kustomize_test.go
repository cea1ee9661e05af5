package charttest

import (
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestKustomizeExample builds examples/kubernetes as `kubectl apply -k`
// would (kustomize's own library) and checks what it applies: a ConfigMap
// generated from config.yml whose name carries its content hash, which the
// Deployment mounts, so a changed config rolls the pod; no Secret, so no
// placeholder key reaches a cluster; a locked-down pod.
func TestKustomizeExample(t *testing.T) {
	const dir = "../../examples/kubernetes"
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	r := decodeAll(t, string(out))
	if want := []string{"ConfigMap", "Deployment", "Service"}; !slices.Equal(slices.Sorted(slices.Values(r.Kinds)), want) {
		t.Fatalf("the kustomization applies %v, want %v (and no Secret)", r.Kinds, want)
	}
	cm, d, svc := r.ConfigMaps[0], r.Deployments[0], r.Services[0]
	for kind, ns := range map[string]string{"ConfigMap": cm.Namespace, "Deployment": d.Namespace, "Service": svc.Namespace} {
		if ns != "monitoring" {
			t.Errorf("%s in namespace %q", kind, ns)
		}
	}

	suffix, ok := strings.CutPrefix(cm.Name, "scp-exporter-config-")
	if !ok || len(suffix) < 8 {
		t.Errorf("ConfigMap %q: want scp-exporter-config-<hash>", cm.Name)
	}
	text, err := os.ReadFile(dir + "/config.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["config.yml"] != string(text) {
		t.Errorf("the ConfigMap's config.yml is not config.yml:\n%s", cm.Data["config.yml"])
	}
	checkConfig(t, r)

	checkPodLockedDown(t, d)
	c := container(t, d)
	vols := volumesByMount(t, d.Spec.Template.Spec, c)
	if v := vols["/etc/scp_exporter"]; v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
		t.Errorf("the config volume %+v does not mount the generated ConfigMap %s", v, cm.Name)
	}
	if v := vols["/run/secrets/scp_exporter"]; v.Secret == nil || v.Secret.SecretName != "scp-exporter-credentials" {
		t.Errorf("the secret key volume %+v", v)
	}
	if !slices.Contains(c.Args, "--config.file=/etc/scp_exporter/config.yml") {
		t.Errorf("args %v: they replace the image's CMD, so they must name the config file", c.Args)
	}
	if c.Image != "scp_exporter:"+appVersion(t) {
		t.Errorf("image %q, want scp_exporter:%s", c.Image, appVersion(t))
	}
	if !labelsMatch(svc.Spec.Selector, d.Spec.Template.Labels) || !labelsMatch(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("selectors: Service %v, Deployment %v; pod labels %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}

	// The example Secret is only an example: it is not listed, and it has
	// the keys the Deployment reads.
	raw, err := os.ReadFile(dir + "/secret.yml")
	if err != nil {
		t.Fatal(err)
	}
	one := decodeAll(t, string(raw))
	if len(one.Secrets) != 1 || one.Secrets[0].StringData["access_key"] == "" || one.Secrets[0].StringData["secret_key"] == "" ||
		one.Secrets[0].Name != "scp-exporter-credentials" {
		t.Errorf("secret.yml: %+v", one.Secrets)
	}
}
