// Package trustlist reads and watches files of trusted account IDs, such as
// the expected members of images kept by a security team: one account ID per
// line, "#" starting a comment (a whole line or the end of one), blank lines
// ignored, surrounding white space trimmed.
package trustlist

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/scp-exporter/scp_exporter/scp"
)

// MaxFileSize is the largest list file read, about 60,000 IDs of 64
// characters: a bigger one is an error, not a list cut short.
const MaxFileSize = 4 << 20

// maxLineLen bounds one line; a longer one is an error naming it.
const maxLineLen = 64 << 10

// maxReported is how many malformed lines are named; the rest are counted.
const maxReported = 10

// LineError is a malformed line of a list file.
type LineError struct {
	Name string // the file
	Line int    // counted from 1
	Err  error  // what is wrong with it
}

func (e *LineError) Error() string { return fmt.Sprintf("%s line %d: %v", e.Name, e.Line, e.Err) }

// Unwrap returns the reason, e.g. one wrapping scp.ErrInvalidID.
func (e *LineError) Unwrap() error { return e.Err }

// Parse reads a list from r, named name in errors. It returns the account
// IDs sorted and without duplicates, or, when a line is not an account ID
// (scp.ValidateMemberID), every malformed line as a *LineError, joined (the
// first ten named, the others counted). A UTF-8 byte order mark and CRLF
// line ends are accepted.
func Parse(r io.Reader, name string) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	var (
		ids  []string
		errs []error
		bad  int
		n    int
	)
	for n = 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if err := scp.ValidateMemberID(line); err != nil {
			bad++
			if bad <= maxReported {
				errs = append(errs, &LineError{Name: name, Line: n, Err: err})
			}
			continue
		}
		ids = append(ids, line)
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		errs = append(errs, &LineError{Name: name, Line: n, Err: fmt.Errorf("longer than %d bytes", maxLineLen)})
	case err != nil:
		errs = append(errs, fmt.Errorf("reading %s: %w", name, err))
	}
	if bad > maxReported {
		errs = append(errs, fmt.Errorf("%s: %d more malformed lines", name, bad-maxReported))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// ReadFile reads and parses the list file at path. Only a regular file of
// at most MaxFileSize bytes is read: a device, FIFO or directory is an error
// (and is never opened, so a FIFO cannot block).
func ReadFile(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	ids, _, err := readFile(path, fi)
	return ids, err
}

// openFile opens a list file; tests replace it to refuse, as a file a
// process may not read does (root reads any file).
var openFile = os.Open

// readFile reads the file whose os.Stat is fi. read is false when the
// file could not be opened or read (as opposed to read and found wrong).
func readFile(path string, fi os.FileInfo) (ids []string, read bool, err error) {
	if !fi.Mode().IsRegular() {
		return nil, true, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > MaxFileSize {
		return nil, true, fmt.Errorf("%s is larger than %d bytes", path, MaxFileSize)
	}
	f, err := openFile(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > MaxFileSize { // it grew since fi
		return nil, true, fmt.Errorf("%s is larger than %d bytes", path, MaxFileSize)
	}
	ids, err = Parse(bytes.NewReader(data), path)
	return ids, true, err
}
