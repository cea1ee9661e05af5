package scp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The fast members parser must give what encoding/json gives whenever it
// does not give up, and must not give up on the answers the API sends.

// fastAgrees checks one input; it reports whether the fast path took it.
func fastAgrees(t *testing.T, data []byte) bool {
	t.Helper()
	var fast membersJSON
	if !parseMembersFast(data, &fast) {
		if fast.Members != nil {
			t.Errorf("%q: gave up but filled the answer", data)
		}
		return false
	}
	var std membersJSON
	if err := json.Unmarshal(data, &std); err != nil {
		t.Errorf("%q: fast path accepted what encoding/json refuses: %v", data, err)
		return true
	}
	if !reflect.DeepEqual(fast, std) {
		t.Errorf("%q: fast path read %+v, encoding/json %+v", data, deref(fast), deref(std))
	}
	return true
}

func deref(m membersJSON) any {
	if m.Members == nil {
		return nil
	}
	return *m.Members
}

func TestMembersFastPathAgreesWithEncodingJSON(t *testing.T) {
	takes := []string{
		`{"members":[]}`,
		` {"members" : [ ] } `,
		"{\"members\":[{\"member_id\":\"a\",\"status\":\"pending\"}]}\n",
		`{"members":[{"created_at":"2025-07-22T09:00:00Z","image_id":"70a599e0-31e7-49b7-b260-868f441e862b","member_id":"a8f10467abfc4b87b64614ab36eb9ae4","status":"pending","updated_at":"2025-07-26T12:00:00Z"},{"member_id":"b","status":"ACCEPTED"}]}`,
		`{"count":2,"members":[{"member_id":"x","status":"revoked","n":-1.5e+3,"ok":true,"no":false,"nil":null}],"next":null,"z":"s"}`,
		`{"members":[{}]}`,
		`{"members":[{"member_id":"","status":""}]}`,
		`{"x":0,"members":[]}`,
	}
	for _, in := range takes {
		if !fastAgrees(t, []byte(in)) {
			t.Errorf("%q: fast path gave up on a plain answer", in)
		}
	}
	givesUp := []string{
		``, `null`, `[]`, `"x"`, `{}`, `{"members":null}`, `{"members":{}}`, `{"members":[null]}`,
		`{"members":[],"members":[]}`, `{"Members":[]}`, `{"MEMBERS":[]}`,
		`{"members":[{"Member_ID":"a"}]}`, `{"members":[{"member_id":"a","member_id":"b"}]}`,
		`{"members":[{"member_id":1}]}`, `{"members":[{"member_id":null}]}`,
		`{"members":[{"member_id":"a\"b"}]}`, `{"members":[{"member_id":"\u0061"}]}`, `{"members":[{"member_id":"é"}]}`,
		`{"members":[{"x":{"y":1}}]}`, `{"members":[{"x":[1]}]}`, `{"x":{},"members":[]}`,
		`{"members":[]}x`, `{"members":[]`, `{"members":[],}`, `{"members":[{"a":1,}]}`, `{"members":[,]}`,
		`{"members":[{"n":01}]}`, `{"members":[{"n":1.}]}`, `{"members":[{"n":-}]}`, `{"members":[{"n":tru}]}`,
		`{"members":[{"n":truex}]}`, `{"members":[{"n":+1}]}`, "{\"members\":[{\"member_id\":\"a\x01\"}]}",
		"\xef\xbb\xbf{\"members\":[]}",
	}
	for _, in := range givesUp {
		if fastAgrees(t, []byte(in)) {
			t.Errorf("%q: fast path took an input it should leave to encoding/json", in)
		}
	}
}

// FuzzMembersFastPath: whatever the input, the fast path agrees with
// encoding/json or gives up. Seeded with FuzzDecodeMembers's corpus.
func FuzzMembersFastPath(f *testing.F) {
	for _, seed := range []string{
		`{"members":[{"created_at":"2025-07-22T09:00:00Z","image_id":"70a599e0-31e7-49b7-b260-868f441e862b","member_id":"a8f10467abfc4b87b64614ab36eb9ae4","status":"pending","updated_at":"2025-07-26T12:00:00Z"}]}`,
		`{"members":[]}`, `{"members":null}`, `{}`, `[]`, `<html></html>`,
		`{"members":[{"member_id":"x","status":"ACCEPTED"},{"member_id":"y-1","status":"rejected"}]}`,
		`{"members":[{"Member_Id":"x","status":"a","n":1e5,"b":true}],"next":null}`,
	} {
		f.Add([]byte(seed))
	}
	if files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeMembers", "*")); err == nil {
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				if s, ok := corpusBytes(string(b)); ok {
					f.Add(s)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fastAgrees(t, data)
	})
}

// corpusBytes reads the []byte of a "go test fuzz v1" corpus file.
func corpusBytes(file string) ([]byte, bool) {
	for line := range strings.SplitSeq(file, "\n") {
		if v, ok := strings.CutPrefix(line, "[]byte("); ok {
			if s, err := strconv.Unquote(strings.TrimSuffix(v, ")")); err == nil {
				return []byte(s), true
			}
		}
	}
	return nil, false
}
