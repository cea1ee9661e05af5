package account

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/config"
)

// Storage is where every account keeps its state across a restart
// (--storage.path), as Alertmanager keeps its notification log: one file
// per account, gzip'd JSON, written atomically (a temporary file, fsync,
// rename) every Interval and when the runtime stops.
type Storage struct {
	// Dir is the directory; "" keeps nothing.
	Dir string
	// Interval is how often the state is written; default one minute.
	Interval time.Duration
	// AuditCatchUp bounds how far back the trail is read after a restart
	// (audit.DefaultCatchUp when 0).
	AuditCatchUp time.Duration
}

// Storage file bounds and format.
const (
	// storageFormat is the version of the file's layout; a file of another
	// is not read (it starts fresh).
	storageFormat = 1
	// maxStorageFile bounds the compressed file read, maxStorageJSON what
	// it may expand to: a state is about 100 bytes an image gzip'd, some
	// 300 as JSON, so 64 MiB is over 200,000 images, and decoding it stays
	// within the chart's memory limit.
	maxStorageFile = 16 << 20
	maxStorageJSON = 64 << 20
	// DefaultStorageInterval is Storage.Interval when unset.
	DefaultStorageInterval = time.Minute
)

// RestoreResult is what a runtime's start found in storage. Its values are
// metric label values.
type RestoreResult string

// The results of reading the state at start: restored, or why not (each
// but missing logged once as a warning; the runtime starts fresh).
const (
	RestoreRestored  RestoreResult = "restored"
	RestoreMissing   RestoreResult = "missing"    // no file yet (first start)
	RestoreCorrupt   RestoreResult = "corrupt"    // not gzip'd JSON of the layout, or too large
	RestoreForeign   RestoreResult = "foreign"    // another account or endpoint's
	RestoreOldFormat RestoreResult = "old_format" // another layout version
	RestoreError     RestoreResult = "unreadable" // cannot be opened or read
)

// RestoreResults lists every RestoreResult, so a metric can show each.
var RestoreResults = []RestoreResult{RestoreRestored, RestoreMissing, RestoreCorrupt, RestoreForeign, RestoreOldFormat, RestoreError}

// StorageStatus is what a scrape shows of an account's storage.
type StorageStatus struct {
	Restored      RestoreResult
	LastWrite     time.Time // last good write; zero until one
	WriteFailures uint64
	Bytes         int64 // the last file written
}

// saved is the file's content.
type saved struct {
	Format int `json:"format"`
	// Identity says whose state it is (see identity): a file of another
	// account or endpoint is not used.
	Identity string       `json:"identity"`
	Written  time.Time    `json:"written"`
	Engine   engine.Saved `json:"engine"`
	Audit    *audit.Saved `json:"audit,omitempty"`
	Rate     float64      `json:"rate_per_second,omitempty"`
}

// storageFile is the account's file in dir.
func storageFile(dir, name string) string {
	if name == "" {
		name = "default"
	}
	return filepath.Join(dir, "account-"+name+".json.gz")
}

// identity names the account and API a state belongs to: a hash of the
// name, the Virtual Server or IAM endpoint, the region, and the account ID
// (scp.account_id) or, without one, the access key ID (hashed, so the file
// holds no credential). With account_id set, a rotated access key keeps
// the state.
func identity(s config.Settings) string {
	who := s.SCP.AccountID
	if who == "" {
		who = "access-key:" + s.SCP.AccessKey
	}
	h := sha256.New()
	for _, part := range []string{s.Name, s.SCP.Endpoint, s.SCP.IAMBaseURL(), s.SCP.Region, who} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// readState reads path; the result says why nothing usable was read.
func readState(path, want string) (saved, RestoreResult, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return saved{}, RestoreMissing, nil
	}
	if err != nil {
		return saved{}, RestoreError, err
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return saved{}, RestoreError, err
	case !fi.Mode().IsRegular():
		return saved{}, RestoreCorrupt, errors.New("not a regular file")
	case fi.Size() > maxStorageFile:
		return saved{}, RestoreCorrupt, fmt.Errorf("%d bytes, more than the %d a state file may have", fi.Size(), maxStorageFile)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return saved{}, RestoreCorrupt, fmt.Errorf("not gzip: %w", err)
	}
	var s saved
	dec := json.NewDecoder(io.LimitReader(zr, maxStorageJSON))
	if err := dec.Decode(&s); err != nil {
		return saved{}, RestoreCorrupt, fmt.Errorf("not the state's JSON: %w", err)
	}
	switch {
	case s.Format != storageFormat:
		return saved{}, RestoreOldFormat, fmt.Errorf("layout version %d, this exporter reads %d", s.Format, storageFormat)
	case s.Identity != want:
		return saved{}, RestoreForeign, errors.New("written for another account, endpoint or access key")
	}
	return s, RestoreRestored, nil
}

// writeState writes s to path atomically: a temporary file in the same
// directory, synced, renamed over path, and the directory synced. It
// returns the bytes written.
func writeState(path string, s saved) (int64, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // after a rename, nothing to remove
	defer tmp.Close()           // on the failures below; closed and checked before the rename
	zw := gzip.NewWriter(tmp)
	if err := json.NewEncoder(zw).Encode(s); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	if err := tmp.Sync(); err != nil {
		return 0, err
	}
	fi, err := tmp.Stat()
	if err != nil {
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename is durable; some file systems refuse, harmlessly
		d.Close()
	}
	return fi.Size(), nil
}

// removeStaleTemps removes what a write cut short (a process killed in the
// middle) left beside path.
func removeStaleTemps(path string) {
	tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	for _, tmp := range tmps {
		_ = os.Remove(tmp) // best effort: a leftover costs only space
	}
}

// restore reads the account's state, if storage is on, and starts the
// engine and the budget from it; the audit trail's part is kept for
// follow. r.mu must be held, before the engine runs.
func (r *Runtime) restore() {
	st := r.opts.Storage
	if st.Dir == "" {
		return
	}
	path := storageFile(st.Dir, r.name)
	removeStaleTemps(path)
	s, result, err := readState(path, identity(r.settings))
	r.storage.Restored = result
	logger := r.logger("storage")
	switch result {
	case RestoreRestored:
		r.engine.Restore(s.Engine)
		r.conn.budget.ContinueAt(s.Rate) // 0 (none saved) changes nothing
		r.savedAudit = s.Audit
		level.Info(logger).Log("msg", "state restored", "path", path, "written", s.Written.UTC().Format(time.RFC3339), "images", len(s.Engine.Images))
	case RestoreMissing:
		level.Info(logger).Log("msg", "no state saved yet; starting fresh", "path", path)
	default:
		level.Warn(logger).Log("msg", "cannot use the saved state; starting fresh (it is replaced at the next write)", "path", path, "result", result, "err", err)
	}
}

// persist writes the account's state every interval until ctx ends; Stop
// writes it once more.
func (r *Runtime) persist(ctx context.Context) {
	interval := r.opts.Storage.Interval
	if interval <= 0 {
		interval = DefaultStorageInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.save()
		}
	}
}

// save writes the account's state now; a failure is logged and counted.
func (r *Runtime) save() {
	st := r.opts.Storage
	if st.Dir == "" {
		return
	}
	r.mu.Lock()
	s := saved{Format: storageFormat, Identity: identity(r.settings), Written: r.opts.Now().UTC(), Rate: r.conn.budget.Rate()}
	eng, poller := r.engine, r.poller
	r.mu.Unlock()
	// The trail's position first: an event it read after the engine's
	// state was taken is read again after a restart, never lost.
	if poller != nil {
		a := poller.Save()
		s.Audit = &a
	}
	s.Engine = eng.Save()
	path := storageFile(st.Dir, r.name)
	n, err := writeState(path, s)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.storage.WriteFailures++
		base := r.logger("storage")
		logger := level.Debug(base)
		if !r.storageFailing {
			logger = level.Warn(base) // once, until a write works again
		}
		r.storageFailing = true
		logger.Log("msg", "cannot write the state; a restart would start from the last good one, if any", "path", path, "err", strings.TrimSpace(err.Error()))
		return
	}
	if r.storageFailing {
		level.Info(r.logger("storage")).Log("msg", "the state is written again", "path", path)
	}
	r.storageFailing = false
	r.storage.LastWrite, r.storage.Bytes = s.Written, n
}
