// Package dashboard checks the dashboards the mixin makes
// (mixin/dashboards/): they evaluate, their panels and queries are well
// formed, their queries name only series the exporter or its recording
// rules make, and the share tables give the right rows on a PromQL engine.
// Test files only; part of the mixin generator's module, so that
// go-jsonnet and Prometheus stay out of the exporter's go.mod.
package dashboard
