package scptest_test

import (
	"net/http/httptest"
	"testing"

	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// An accepted offer leaves the pending images and shows in the shared
// listing, its owner kept; an image never offered is not accepted.
func TestAcceptPendingImage(t *testing.T) {
	const offered, stranger = "22222222-2222-4222-8222-222222222222", "ffee0011223344556677889900aabbcc"
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey})
	fake.SetPendingImages(
		scptest.Image{ID: offered, Name: "free-miner", Owner: stranger, OwnerAccountName: "unknown"},
		scptest.Image{ID: imageID, Name: "vendor-base", Owner: memberID},
	)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := scp.NewClient(scp.Options{BaseURL: srv.URL, AccessKey: accessKey, SecretKey: secretKey, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}

	if fake.AcceptPendingImage("33333333-3333-4333-8333-333333333333") {
		t.Error("AcceptPendingImage accepted an image nobody offered")
	}
	if !fake.AcceptPendingImage(offered) {
		t.Fatal("AcceptPendingImage did not find the offer")
	}
	pending, err := c.ListPendingImages(t.Context())
	if err != nil || len(pending) != 1 || pending[0].ID != imageID {
		t.Errorf("pending images after the accept: %+v, %v; want only %s", pending, err, imageID)
	}
	shared, err := c.ListImages(t.Context(), "shared")
	if err != nil || len(shared) != 1 || shared[0].ID != offered || shared[0].Owner != stranger || shared[0].Visibility != "shared" || shared[0].Name != "free-miner" {
		t.Errorf("shared listing after the accept: %+v, %v; want %s owned by %s", shared, err, offered, stranger)
	}
	if private, err := c.ListImages(t.Context(), "private"); err != nil || len(private) != 0 {
		t.Errorf("private listing: %+v, %v; want none", private, err)
	}
	if fake.AcceptPendingImage(offered) {
		t.Error("the offer was accepted twice")
	}
}
