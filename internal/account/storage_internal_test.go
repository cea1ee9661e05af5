package account

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/scp"
)

// hexID is a random 32-hex account ID: real IDs do not compress.
func hexID(rng *rand.Rand) string { return fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()) }

// benchState is the state of an account of n images of three members
// each (random IDs and creation times), one in four discovered, each
// listed with its visibility, the audit trail holding an event for one
// image in ten.
func benchState(n int) saved {
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := saved{Format: storageFormat, Identity: "0123456789abcdef0123456789abcdef", Written: at, Rate: 100}
	s.Engine.Inventory.Visibility = map[string]string{}
	s.Engine.Inventory.VisibilityAsOf = map[string]time.Time{}
	s.Audit = &audit.Saved{NextStart: at, Images: map[string][]audit.Event{}}
	for i := range n {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		s.Engine.Images = append(s.Engine.Images, engine.SavedImage{ID: id, Fetched: at, FirstFetched: at, Started: at, Members: []scp.Member{
			{ID: hexID(rng), Status: "accepted", CreatedAt: at.Add(-time.Duration(rng.IntN(1e6)) * time.Second), UpdatedAt: at},
			{ID: hexID(rng), Status: "pending", CreatedAt: at.Add(-time.Duration(rng.IntN(1e6)) * time.Second), UpdatedAt: at},
			{ID: hexID(rng), Status: "rejected", CreatedAt: at.Add(-time.Duration(rng.IntN(1e6)) * time.Second), UpdatedAt: at},
		}})
		s.Engine.Inventory.Visibility[id] = "private"
		s.Engine.Inventory.VisibilityAsOf[id] = at
		if i%4 == 0 {
			s.Engine.Inventory.Discovered = append(s.Engine.Inventory.Discovered, scp.Image{ID: id, Name: fmt.Sprintf("image-%d", i), Visibility: "shared", Owner: "0123456789abcdef0123456789abcdef", CreatedAt: at, UpdatedAt: at})
		}
		if i%10 == 0 {
			s.Audit.Images[id] = []audit.Event{{ID: fmt.Sprintf("event-%d", i), Time: at, Name: "CreateImageMember", UserID: "jane.doe"}}
		}
	}
	return s
}

// BenchmarkWriteState: what the state costs at 10,000 images, written and
// read back (BENCHMARKS.md, issue 23).
func BenchmarkWriteState(b *testing.B) {
	const images = 10000
	s := benchState(images)
	path := filepath.Join(b.TempDir(), "account-a.json.gz")
	var size int64
	b.Run("write", func(b *testing.B) {
		for b.Loop() {
			n, err := writeState(path, s)
			if err != nil {
				b.Fatal(err)
			}
			size = n
		}
		b.ReportMetric(float64(size)/images, "bytes/image")
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			if _, result, err := readState(path, s.Identity); result != RestoreRestored {
				b.Fatal(result, err)
			}
		}
	})
	if fi, err := os.Stat(path); err == nil {
		b.Logf("%d images: %d bytes on disk, %.0f bytes an image", images, fi.Size(), float64(fi.Size())/images)
	}
}
