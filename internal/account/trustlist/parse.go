// Package trustlist reads and watches files of trusted account IDs, such as
// the expected members of images kept by a security team: one account ID per
// line, optionally followed by white space and a name for it (the rest of
// the line before any comment: a name cannot hold "#", nor a double
// quote), "#" starting a
// comment (a whole line or the end of one), blank lines ignored,
// surrounding white space trimmed.
package trustlist

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

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

// MaxNameLen bounds a name given beside an account ID, in bytes.
const MaxNameLen = 128

// List is a list file's content: its account IDs and the names given
// beside them.
type List struct {
	// IDs are the account IDs, sorted and without duplicates.
	IDs []string
	// Names are the names given beside IDs, by ID; an ID without a name
	// has no entry. Nil when no line names its ID.
	Names map[string]string
}

// Equal reports whether l and o hold the same IDs with the same names.
func (l List) Equal(o List) bool {
	return slices.Equal(l.IDs, o.IDs) && maps.Equal(l.Names, o.Names)
}

// ValidateName checks a name given beside an account ID: at most
// MaxNameLen bytes of valid UTF-8, printable characters only (no control
// or format characters, so a name cannot break or disguise the lines it is
// shown on), without surrounding white space, without "#": it starts
// a comment in a list file (where "Team #2" is the name "Team"), so the
// config refuses it too and a name means the same in both, and without a
// double quote, which ends a name in the dashboard's Member variable (a
// Grafana query_result read by a regular expression). The error does not
// quote the name.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("the name is empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("the name is longer than %d bytes", MaxNameLen)
	case !utf8.ValidString(name):
		return errors.New("the name is not valid UTF-8")
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return errors.New("the name holds a control or other non-printable character")
	case strings.TrimSpace(name) != name:
		return errors.New("the name begins or ends with white space")
	case strings.Contains(name, "#"):
		return errors.New(`the name holds "#", which starts a comment in a list file`)
	case strings.Contains(name, `"`):
		return errors.New(`the name holds a double quote ("), at which the dashboard would cut it short`)
	}
	return nil
}

// Parse reads a list from r, named name in errors. A line is an account
// ID (scp.ValidateMemberID), optionally followed by white space and a name
// for it (ValidateName; the rest of the line before any comment). check,
// when set, is asked of every name too: an error makes the line malformed
// (the exporter refuses a name holding a piece of a secret, as it would be
// shown as a label value). An ID listed more than once is one entry; its
// lines may leave out its name, but not give it two different ones.
//
// It returns the list, or, when a line is malformed, every malformed line
// as a *LineError, joined (the first ten named, the others counted), and
// no list: a file is used whole or not at all. A UTF-8 byte order mark and
// CRLF line ends are accepted.
func Parse(r io.Reader, name string, check func(name string) error) (List, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	var (
		ids   []string
		names map[string]string
		named map[string]int // the line that named each ID
		errs  []error
		bad   int
		n     int
	)
	malformed := func(err error) {
		bad++
		if bad <= maxReported {
			errs = append(errs, &LineError{Name: name, Line: n, Err: err})
		}
	}
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
		id, label := line, ""
		if i := strings.IndexFunc(line, unicode.IsSpace); i >= 0 {
			id, label = line[:i], strings.TrimSpace(line[i:])
		}
		if err := scp.ValidateMemberID(id); err != nil {
			malformed(err)
			continue
		}
		if label != "" {
			err := ValidateName(label)
			if err == nil && check != nil {
				err = check(label)
			}
			if err != nil {
				malformed(fmt.Errorf("account %s: %w", id, err))
				continue
			}
			if prev, ok := names[id]; ok && prev != label {
				malformed(fmt.Errorf("account %s: named differently at line %d: give it one name", id, named[id]))
				continue
			}
			if names == nil {
				names, named = map[string]string{}, map[string]int{}
			}
			if _, ok := names[id]; !ok {
				names[id], named[id] = label, n
			}
		}
		ids = append(ids, id)
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
		return List{}, errors.Join(errs...)
	}
	slices.Sort(ids)
	return List{IDs: slices.Compact(ids), Names: names}, nil
}

// ReadFile reads and parses the list file at path (check as for Parse).
// Only a regular file of at most MaxFileSize bytes is read: a device, FIFO
// or directory is an error (and is never opened, so a FIFO cannot block).
func ReadFile(path string, check func(name string) error) (List, error) {
	data, _, err := readFile(path)
	if err != nil {
		return List{}, err
	}
	return Parse(bytes.NewReader(data), path, check)
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
