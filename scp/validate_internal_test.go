package scp

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The hand-written checks on the request path must accept exactly what the
// regular expressions they replace accept.
var (
	uuidOracle     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	memberIDOracle = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	statusOracle   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
)

func TestValidatorsMatchTheirRegexps(t *testing.T) {
	check := func(s string) {
		t.Helper()
		if got, want := validUUID(s), uuidOracle.MatchString(s); got != want {
			t.Errorf("validUUID(%q) = %v, regexp says %v", s, got, want)
		}
		if got, want := validMemberID(s), memberIDOracle.MatchString(s); got != want {
			t.Errorf("validMemberID(%q) = %v, regexp says %v", s, got, want)
		}
		if got, want := validStatus(s), statusOracle.MatchString(s); got != want {
			t.Errorf("validStatus(%q) = %v, regexp says %v", s, got, want)
		}
	}
	for _, s := range []string{
		"", "-", "_", "a", "A-b_9", "pending", "ACCEPTED", "a\n", "\na", "a b", "é", "a\x00",
		"70a599e0-31e7-49b7-b260-868f441e862b", "70A599E0-31E7-49B7-B260-868F441E862B",
		"70a599e0-31e7-49b7-b260-868f441e862b\n", "70a599e0-31e7-49b7-b260-868f441e862g",
		"70a599e031e7-49b7-b260-868f441e862b-", "70a599e0-31e7-49b7-b260-868f441e862",
		strings.Repeat("a", 32), strings.Repeat("a", 33), strings.Repeat("a", 64), strings.Repeat("a", 65),
		strings.Repeat("-", 36), "\xff", "a\xffb",
	} {
		check(s)
	}
	// Random strings over an alphabet that hits every class boundary.
	const alphabet = "09afAFgzGZ-_ /:@`[{\n\x00\x7f\xc3\xa9\xff"
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var b strings.Builder
		n := r.IntN(70)
		if r.IntN(4) == 0 {
			n = 36
		}
		for i := range n {
			if n == 36 && (i == 8 || i == 13 || i == 18 || i == 23) && r.IntN(8) != 0 {
				b.WriteByte('-')
				continue
			}
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		check(b.String())
	}
}
