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
	data, _, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(bytes.NewReader(data), path)
}

// openFile opens a list file; tests replace it to refuse, as a file a
// process may not read does (root reads any file).
var openFile = os.Open

// readFile returns the content of the regular file at path, of at most
// MaxFileSize bytes, and its os.Stat from before the read.
func readFile(path string) ([]byte, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fi, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > MaxFileSize {
		return nil, fi, fmt.Errorf("%s is larger than %d bytes, the most a list file may have", path, MaxFileSize)
	}
	f, err := openFile(path)
	if err != nil {
		return nil, fi, err
	}
	defer f.Close()
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + 512) // room for a little growth since fi, and for ReadFrom's end-of-file check
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxFileSize+1)); err != nil {
		return nil, fi, fmt.Errorf("reading %s: %w", path, err)
	}
	if buf.Len() > MaxFileSize { // it grew since fi
		return nil, fi, fmt.Errorf("%s is larger than %d bytes, the most a list file may have", path, MaxFileSize)
	}
	return buf.Bytes(), fi, nil
}

// partialLastLine reports whether data ends in a line without its newline
// that holds more than white space and a comment: what a writer pausing in
// the middle of an account ID leaves.
func partialLastLine(data []byte) bool {
	last := data[bytes.LastIndexByte(data, '\n')+1:]
	if i := bytes.IndexByte(last, '#'); i >= 0 {
		last = last[:i]
	}
	return len(bytes.TrimSpace(bytes.TrimPrefix(last, []byte("\uFEFF")))) > 0
}
