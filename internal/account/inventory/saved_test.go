package inventory

import (
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
)

// A restored discovered list keeps only what the discovery configured now
// would list: an image a changed name_regex or visibility leaves out is not
// brought back (issue 23: images no longer watched are not resurrected).
func TestRestoreAppliesTheCurrentDiscoveryFilters(t *testing.T) {
	d := New(Options{Discover: true, Visibility: []string{"private"}, Interval: time.Hour,
		Match: func(name string) bool { return !strings.HasPrefix(name, "excluded-") }, MatchKey: "^(?!excluded-)"})
	d.Restore(Saved{Discovered: []scp.Image{
		{ID: "a", Name: "golden", Visibility: "private"},
		{ID: "b", Name: "excluded-old", Visibility: "private"},
		{ID: "c", Name: "golden-shared", Visibility: "shared"},
	}, Visibility: map[string]string{"a": "private", "b": "private", "c": "shared"}})
	st := d.Snapshot()
	if len(st.Discovered) != 1 || st.Discovered[0].ID != "a" || st.Status.Images != 1 {
		t.Errorf("restored %+v, want only image a", st.Discovered)
	}
	if _, ok := st.Visibility["b"]; ok || st.Visibility["a"] != "private" {
		t.Errorf("visibility %v, want only a's", st.Visibility)
	}
}
