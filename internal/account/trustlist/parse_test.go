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
			got, err := trustlist.Parse(strings.NewReader(tc.text), "list.txt", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.IDs, tc.want) || got.Names != nil {
				t.Errorf("Parse = %q %q, want %q and no names", got.IDs, got.Names, tc.want)
			}
		})
	}
}

// A name may follow the ID: the rest of the line before a comment, white
// space around it trimmed. An ID listed again without a name, or with the
// same one, keeps it.
func TestParseNames(t *testing.T) {
	text := "\uFEFFbbbb   Partner Bank (DR)  # since 2025\r\n" +
		"aaaa\tBuild farm\n" +
		"cccc\n" +
		"bbbb\n" +
		"aaaa Build farm # again\n" +
		"dddd 한국 파트너\n" +
		"eeee #no name, a comment\n"
	got, err := trustlist.Parse(strings.NewReader(text), "list.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := trustlist.List{
		IDs:   []string{"aaaa", "bbbb", "cccc", "dddd", "eeee"},
		Names: map[string]string{"aaaa": "Build farm", "bbbb": "Partner Bank (DR)", "dddd": "한국 파트너"},
	}
	if !got.Equal(want) {
		t.Errorf("Parse = %q %q, want %q %q", got.IDs, got.Names, want.IDs, want.Names)
	}
}

// A bad name makes its line malformed, naming the file, the line and the
// account, never quoting the name: like every malformed line, it is
// reported with the others and nothing of the file is used.
func TestParseNameErrors(t *testing.T) {
	long := strings.Repeat("n", trustlist.MaxNameLen+1)
	text := "aaaa fine\n" +
		"bbbb " + long + "\n" +
		"cccc bell\x07here\n" +
		"dddd bad\xffutf8\n" +
		"aaaa another name\n" +
		"eeee right\u202eleft\n" +
		"ffff " + strings.Repeat("n", trustlist.MaxNameLen) + "\n" +
		"gggg s3cr3tKEYpiece\n"
	check := func(name string) error {
		if strings.Contains(name, "s3cr3t") {
			return errors.New("holds a secret")
		}
		return nil
	}
	got, err := trustlist.Parse(strings.NewReader(text), "/etc/trusted.txt", check)
	if err == nil || got.IDs != nil || got.Names != nil {
		t.Fatalf("Parse = %+v, %v; want an error and no list", got, err)
	}
	want := []string{
		`/etc/trusted.txt line 2: account bbbb: the name is longer than 128 bytes`,
		`/etc/trusted.txt line 3: account cccc: the name holds a control or other non-printable character`,
		`/etc/trusted.txt line 4: account dddd: the name is not valid UTF-8`,
		`/etc/trusted.txt line 5: account aaaa: named differently at line 1: give it one name`,
		`/etc/trusted.txt line 6: account eeee: the name holds a control or other non-printable character`,
		`/etc/trusted.txt line 8: account gggg: holds a secret`,
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"a", "Partner Bank (DR)", "한국 파트너", "x-y_z.1", strings.Repeat("é", trustlist.MaxNameLen/2)} {
		if err := trustlist.ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", " lead", "trail ", "tab\tinside", "new\nline", "nul\x00", "\xff", strings.Repeat("é", trustlist.MaxNameLen/2+1), "bidi\u202e", "Team #2", "x#1", `Ops "blue"`, `"`} {
		if err := trustlist.ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) = nil, want an error", bad)
		}
	}
}

// Every malformed line is reported at once, each naming the file and its
// line; nothing of the file is used.
func TestParseErrors(t *testing.T) {
	text := "aaaa\n# comment\nnot/an id\nbbbb\n\ncc/dd # trailing\n\uFEFFeeee\n"
	list, err := trustlist.Parse(strings.NewReader(text), "/etc/trusted.txt", nil)
	if err == nil || list.IDs != nil {
		t.Fatalf("Parse = %q, %v; want an error and no list", list.IDs, err)
	}
	want := []string{
		`/etc/trusted.txt line 3: invalid id: member id "not/an" must match ^[A-Za-z0-9-]{1,64}$`,
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

// A name with a double quote makes its line malformed, naming the file
// and line, not the name; the file is not used.
func TestParseRefusesADoubleQuoteInAName(t *testing.T) {
	list, err := trustlist.Parse(strings.NewReader("aaaa Build farm\nbbbb Ops \"blue\" team # DR\n"), "/etc/trusted.txt", nil)
	if err == nil || list.IDs != nil {
		t.Fatalf("Parse = %q, %v; want an error and no list", list.IDs, err)
	}
	want := `/etc/trusted.txt line 2: account bbbb: the name holds a double quote ("), at which the dashboard would cut it short`
	if err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestParseNamesTenLinesAndCountsTheRest(t *testing.T) {
	var b strings.Builder
	for i := range 25 {
		fmt.Fprintf(&b, "bad/id %d\n", i)
	}
	_, err := trustlist.Parse(strings.NewReader(b.String()), "x", nil)
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[9], "x line 10: ") || lines[10] != "x: 15 more malformed lines" {
		t.Errorf("errors:\n%v", err)
	}
}

func TestParseLongLine(t *testing.T) {
	_, err := trustlist.Parse(strings.NewReader("aaaa\n"+strings.Repeat("a", 70000)+"\n"), "x", nil)
	var le *trustlist.LineError
	if !errors.As(err, &le) || le.Line != 2 || !strings.Contains(err.Error(), "x line 2: longer than") {
		t.Errorf("error %v", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ok.txt")
	if err := os.WriteFile(path, []byte("bbbb The DR account\naaaa # x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := trustlist.ReadFile(path, nil); err != nil || !slices.Equal(l.IDs, []string{"aaaa", "bbbb"}) || l.Names["bbbb"] != "The DR account" {
		t.Errorf("ReadFile = %+v, %v", l, err)
	}
	if _, err := trustlist.ReadFile(filepath.Join(dir, "missing.txt"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := trustlist.ReadFile(dir, nil); err == nil || err.Error() != dir+" is not a regular file" {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(big, []byte(strings.Repeat("aaaa\n", trustlist.MaxFileSize/5+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := trustlist.ReadFile(big, nil); err == nil || !strings.Contains(err.Error(), "is larger than") {
		t.Errorf("big file: %v", err)
	}
}

// FuzzParse: Parse never panics; what it returns is a sorted set of valid
// account IDs, each name a valid name of one of them found in the input,
// or errors naming lines of the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "aaaa\n", "# c\n a-b # d\r\n", "\uFEFFx\n", "a b\n#\n\n", "x\x00y\n",
		"aaaa Partner Bank # DR\nbbbb\t한국\naaaa\n", "a x\na y\n", "a \x7f\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		list, err := trustlist.Parse(strings.NewReader(text), "f", nil)
		ids := list.IDs
		if err != nil {
			if ids != nil || list.Names != nil {
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
		for id, name := range list.Names {
			if _, ok := slices.BinarySearch(ids, id); !ok || trustlist.ValidateName(name) != nil || !strings.Contains(text, name) {
				t.Fatalf("name %q of %q", name, id)
			}
		}
	})
}
