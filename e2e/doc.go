// Package e2e holds end-to-end tests: they build the scp_exporter binary, run
// it against the fake SCP API on loopback, and read what it serves, the way
// Prometheus and a person would. It has no code outside its tests.
package e2e
