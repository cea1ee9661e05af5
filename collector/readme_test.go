package collector

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scp-exporter/scp_exporter/internal/account"
)

// README.md's metric table has a row for every family a scrape can write
// (every optional series included), and no row for a family that is gone;
// the exporter's own families (scp_exporter_*) are defined by the
// exporter, not here, and are left out of the second check.
func TestREADMEMetricTableListsEveryFamily(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(scp_[a-z_]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		rows = append(rows, m[1])
	}
	if len(rows) == 0 {
		t.Fatal("no metric table rows found in README.md")
	}
	var families []string
	for _, f := range scrapeFamilies {
		families = append(families, f.Name)
	}
	for _, f := range account.Families(allSeries) {
		families = append(families, f.Name)
	}
	for _, name := range families {
		if !slices.Contains(rows, name) {
			t.Errorf("README.md's metric table has no row for %s", name)
		}
	}
	for _, name := range rows {
		if !slices.Contains(families, name) && !strings.HasPrefix(name, "scp_exporter_") {
			t.Errorf("README.md's metric table has a row for %s, which no family defines", name)
		}
	}
}
