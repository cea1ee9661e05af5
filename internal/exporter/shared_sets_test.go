package exporter

import (
	"maps"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/account"
)

// Images without expected_members or allowed_visibility of their own get the
// account's sets; those with their own get theirs. (The sets are shared, not
// copied per image, which matters for memory at thousands of images.)
func TestImagesGetTheirOwnOrTheSharedSets(t *testing.T) {
	const (
		imgOwn   = "0b7e1f4c-9d2a-4e36-8c51-2f6a7d8e9b10"
		imgEmpty = "5d3c2b1a-0f9e-4d8c-b7a6-958473625140"
		other    = "3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f"
	)
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	e, _ := start(t, `scp: {endpoint: `+srv.URL+`, access_key: ak, secret_key: sk}
expected_members: [`+member+`]
allowed_visibility: [private]
images:
  - {id: `+image+`}
  - {id: `+imgOwn+`, expected_members: [`+other+`], allowed_visibility: [public, shared]}
  - {id: `+imgEmpty+`, allowed_visibility: []}
`, time.Now())
	images := e.Collector().Scrape(t.Context()).Accounts[0].Members.Images
	set := func(keys ...string) map[string]bool {
		m := map[string]bool{}
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	for _, tc := range []struct {
		i                    int
		expected, visibility map[string]bool
	}{
		{0, set(member), set("private")},
		{1, set(member, other), set("public", "shared")},
		{2, set(member), set()},
	} {
		img := images[tc.i]
		if !maps.Equal(img.Expected, tc.expected) {
			t.Errorf("image %s: expected members %v, want %v", img.ID, img.Expected, tc.expected)
		}
		if !maps.Equal(img.AllowedVisibility, tc.visibility) {
			t.Errorf("image %s: allowed visibility %v, want %v", img.ID, img.AllowedVisibility, tc.visibility)
		}
	}
}

// max_members reaches the collector as one default per account (its own, or
// the top level's) and, per image, only the limits that differ from it: an
// image whose max_members equals the default is not an override, 0 is.
func TestMaxMembersReachTheCollectorAsDefaultAndOverrides(t *testing.T) {
	const (
		imgSame = "0b7e1f4c-9d2a-4e36-8c51-2f6a7d8e9b10"
		imgNone = "5d3c2b1a-0f9e-4d8c-b7a6-958473625140"
		imgWide = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"
	)
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	scp := `{endpoint: ` + srv.URL + `, access_key: ak, secret_key: sk}`
	e, _ := start(t, `max_members: 5
accounts:
  - name: prod
    scp: `+scp+`
    max_members: 3
    images:
      - {id: `+image+`}
      - {id: `+imgSame+`, max_members: 3}
      - {id: `+imgNone+`, max_members: 0}
      - {id: `+imgWide+`, max_members: 20}
  - name: dev
    scp: `+scp+`
    images:
      - {id: `+image+`, max_members: 5}
      - {id: `+imgNone+`, max_members: 0}
`, time.Now())
	got := map[string]account.MaxMembers{}
	for _, snap := range e.Collector().Scrape(t.Context()).Accounts {
		got[snap.Name] = snap.MaxMembers
	}
	want := map[string]account.MaxMembers{
		"prod": {Default: 3, PerImage: map[string]int{imgNone: 0, imgWide: 20}},
		"dev":  {Default: 5, PerImage: map[string]int{imgNone: 0}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("max_members %+v, want %+v", got, want)
	}
}
