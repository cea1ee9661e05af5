// Package charttest tests what Kubernetes users install: the Helm chart in
// charts/scp-exporter (helm lint, helm template, the rendered objects decoded
// strictly into the Kubernetes and prometheus-operator Go types) and the
// kustomize example in examples/kubernetes (built with kustomize's library).
//
// It is a module of its own so that the Kubernetes, prometheus-operator and
// kustomize modules it needs stay out of the exporter's go.mod. Run it with
// `make test-chart`, which builds the pinned helm into .build/ first.
package charttest
