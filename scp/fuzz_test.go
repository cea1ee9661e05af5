package scp_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/scp-exporter/scp_exporter/scp"
)

// FuzzDecodeMembers feeds arbitrary answer bodies to the members decoder:
// it must never panic, and whatever it returns must be safe to use as
// metric labels.
func FuzzDecodeMembers(f *testing.F) {
	for _, seed := range []string{
		`{"members":[{"created_at":"2025-07-22T09:00:00Z","image_id":"70a599e0-31e7-49b7-b260-868f441e862b","member_id":"a8f10467abfc4b87b64614ab36eb9ae4","status":"pending","updated_at":"2025-07-26T12:00:00Z"}]}`,
		`{"members":[]}`,
		`{"members":null}`,
		`{}`,
		`{"members":[{"member_id":"x","status":"ACCEPTED"},{"member_id":"y-1","status":"rejected"}]}`,
		`{"members":[{"member_id":"../x","status":"pending"}]}`,
		`{"members":[{"member_id":"x","status":""}]}`,
		`{"members":[{"member_id":"x","status":"a\u0000b"}]}`,
		`{"members":{"member_id":"x"}}`,
		`[]`,
		`<html></html>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		members, err := scp.DecodeMembers(data)
		if err != nil {
			var decErr *scp.DecodeError
			if !errors.As(err, &decErr) || scp.ReasonOf(err) != scp.ReasonDecode {
				t.Fatalf("error %v is not a decode error", err)
			}
			if members != nil {
				t.Fatalf("members %v returned with error %v", members, err)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r\x00") {
				t.Fatalf("error text has control characters: %q", msg)
			}
			return
		}
		if members == nil {
			t.Fatal("nil members without an error")
		}
		seen := map[string]bool{}
		for i, m := range members {
			if seen[m.ID] {
				t.Fatalf("member %s listed twice", m.ID)
			}
			seen[m.ID] = true
			if err := scp.ValidateMemberID(m.ID); err != nil {
				t.Fatalf("member %d: %v", i, err)
			}
			if m.Status == "" || m.Status != strings.ToLower(m.Status) || len(m.Status) > 32 {
				t.Fatalf("member %d: status %q", i, m.Status)
			}
			if strings.TrimLeft(m.Status, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
				t.Fatalf("member %d: status %q has characters outside [a-z0-9_-]", i, m.Status)
			}
		}
	})
}
