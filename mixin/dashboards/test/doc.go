// Package test checks the dashboard the mixin makes (../dashboards.libsonnet):
// it evaluates, its panels and queries are well formed, and its queries name
// only series the exporter or its recording rules make. A module of its own,
// so that go-jsonnet stays out of the exporter's go.mod.
package test
