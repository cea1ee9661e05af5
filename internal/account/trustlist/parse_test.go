package trustlist_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/scp"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"empty", "", nil},
		{"comments and blank lines only", "# trusted partners\n\n   \n\t# none yet\n", nil},
		{"one per line", "aaaa\nbbbb\n", []string{"aaaa", "bbbb"}},
		{"no final newline", "aaaa\nbbbb", []string{"aaaa", "bbbb"}},
		{"trailing comments and white space", "  aaaa   # the DR account\n\tbbbb#no space\n", []string{"aaaa", "bbbb"}},
		{"CRLF", "aaaa\r\nbbbb # x\r\n\r\n", []string{"aaaa", "bbbb"}},
		{"byte order mark", "\uFEFFaaaa\nbbbb\n", []string{"aaaa", "bbbb"}},
		{"sorted, duplicates once", "cccc\naaaa\ncccc\nbbbb\naaaa\n", []string{"aaaa", "bbbb", "cccc"}},
		{"case kept", "AbCd\nabcd\n", []string{"AbCd", "abcd"}},
		{"32-hex account IDs", "a8f10467abfc4b87b64614ab36eb9ae4\n", []string{"a8f10467abfc4b87b64614ab36eb9ae4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := trustlist.Parse(strings.NewReader(tc.text), "list.txt")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Parse = %q, want %q", got, tc.want)
			}
		})
	}
}

// Every malformed line is reported at once, each naming the file and its
// line; nothing of the file is used.
func TestParseErrors(t *testing.T) {
	text := "aaaa\n# comment\nnot an id\nbbbb\n\ncc/dd # trailing\n\uFEFFeeee\n"
	ids, err := trustlist.Parse(strings.NewReader(text), "/etc/trusted.txt")
	if err == nil || ids != nil {
		t.Fatalf("Parse = %q, %v; want an error and no list", ids, err)
	}
	want := []string{
		`/etc/trusted.txt line 3: invalid id: member id "not an id" must match ^[A-Za-z0-9-]{1,64}$`,
		`/etc/trusted.txt line 6: invalid id: member id "cc/dd" must match ^[A-Za-z0-9-]{1,64}$`,
		// A byte order mark counts only at the start of the file.
		`/etc/trusted.txt line 7: invalid id: member id "?eeee" must match ^[A-Za-z0-9-]{1,64}$`,
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !errors.Is(err, scp.ErrInvalidID) {
		t.Errorf("%v does not wrap scp.ErrInvalidID", err)
	}
	var le *trustlist.LineError
	if !errors.As(err, &le) || le.Name != "/etc/trusted.txt" || le.Line != 3 {
		t.Errorf("first LineError %+v", le)
	}
}

func TestParseNamesTenLinesAndCountsTheRest(t *testing.T) {
	var b strings.Builder
	for i := range 25 {
		fmt.Fprintf(&b, "bad id %d\n", i)
	}
	_, err := trustlist.Parse(strings.NewReader(b.String()), "x")
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[9], "x line 10: ") || lines[10] != "x: 15 more malformed lines" {
		t.Errorf("errors:\n%v", err)
	}
}

func TestParseLongLine(t *testing.T) {
	_, err := trustlist.Parse(strings.NewReader("aaaa\n"+strings.Repeat("a", 70000)+"\n"), "x")
	var le *trustlist.LineError
	if !errors.As(err, &le) || le.Line != 2 || !strings.Contains(err.Error(), "x line 2: longer than") {
		t.Errorf("error %v", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ok.txt")
	if err := os.WriteFile(path, []byte("bbbb\naaaa # x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ids, err := trustlist.ReadFile(path); err != nil || !slices.Equal(ids, []string{"aaaa", "bbbb"}) {
		t.Errorf("ReadFile = %q, %v", ids, err)
	}
	if _, err := trustlist.ReadFile(filepath.Join(dir, "missing.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := trustlist.ReadFile(dir); err == nil || err.Error() != dir+" is not a regular file" {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(big, []byte(strings.Repeat("aaaa\n", trustlist.MaxFileSize/5+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := trustlist.ReadFile(big); err == nil || !strings.Contains(err.Error(), "is larger than") {
		t.Errorf("big file: %v", err)
	}
}

// FuzzParse: Parse never panics; what it returns is a sorted set of valid
// account IDs, or errors naming lines of the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "aaaa\n", "# c\n a-b # d\r\n", "\uFEFFx\n", "a b\n#\n\n", "x\x00y\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ids, err := trustlist.Parse(strings.NewReader(text), "f")
		if err != nil {
			if ids != nil {
				t.Fatal("a list with an error")
			}
			var le *trustlist.LineError
			if errors.As(err, &le) && (le.Line < 1 || le.Line > strings.Count(text, "\n")+1) {
				t.Fatalf("line %d of a %d-line input", le.Line, strings.Count(text, "\n")+1)
			}
			return
		}
		if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Fatalf("not a sorted set: %q", ids)
		}
		for _, id := range ids {
			if scp.ValidateMemberID(id) != nil || !strings.Contains(text, id) {
				t.Fatalf("id %q", id)
			}
		}
	})
}
