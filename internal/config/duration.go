package config

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Duration is a duration in Prometheus's syntax (500ms, 30s, 10m, 1h, 1d).
// A value that is not one is an error naming its line.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	// A *yaml.TypeError lets the decoder go on to the rest of the file.
	if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a duration must be a string such as 30s", n.Line)}}
	}
	md, err := model.ParseDuration(s)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (use e.g. 500ms, 30s, 10m, 1h)", n.Line, s)}}
	}
	*d = Duration(md)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String formats d as Prometheus does (1m30s).
func (d Duration) String() string { return model.Duration(d).String() }
