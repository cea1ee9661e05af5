package scp_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// The members answer is read as the official SDK reads it: one entry it
// cannot use is skipped and counted, the rest kept; odd values are shown,
// not dropped.
func TestMembersAnswerReadTolerantly(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      string
		want      []scp.Member
		anomalies map[string]float64
	}{
		{name: "null members: an image with no members", body: `{"members":null}`, want: []scp.Member{}},
		{name: "zone-less and fractional times are UTC",
			body: `{"members":[{"member_id":"a1","status":"pending","created_at":"2024-06-16T02:55:13","updated_at":"2024-06-16T02:55:13.250"}]}`,
			want: []scp.Member{{ID: "a1", Status: "pending",
				CreatedAt: time.Date(2024, 6, 16, 2, 55, 13, 0, time.UTC), UpdatedAt: time.Date(2024, 6, 16, 2, 55, 13, 250e6, time.UTC)}}},
		{name: "an unknown status is shown", body: `{"members":[{"member_id":"a1","status":"deactivated"}]}`,
			want: []scp.Member{{ID: "a1", Status: "deactivated"}}},
		{name: "a numeric timestamp: the member is shown",
			body:      `{"members":[{"member_id":"a1","status":"accepted","created_at":1721638800,"updated_at":"yesterday"}]}`,
			want:      []scp.Member{{ID: "a1", Status: "accepted", CreatedAt: time.Unix(1721638800, 0).UTC()}},
			anomalies: map[string]float64{scp.AnomalyBadTimestamp: 1}},
		{name: "one unreadable entry between two good ones",
			body:      `{"members":[{"member_id":"good-1","status":"accepted"},{"member_id":"../x","status":"pending"},"junk",{"member_id":"good-2","status":"pending"}]}`,
			want:      []scp.Member{{ID: "good-1", Status: "accepted"}, {ID: "good-2", Status: "pending"}},
			anomalies: map[string]float64{scp.AnomalyInvalidMemberID: 1, scp.AnomalyNotAnObject: 1}},
		{name: "empty, odd and numeric statuses", body: `{"members":[{"member_id":"a1","status":""},{"member_id":"a2","status":"Re Voked!"},{"member_id":"a3","status":7}]}`,
			want:      []scp.Member{{ID: "a1", Status: "unknown"}, {ID: "a2", Status: "re_voked_"}, {ID: "a3", Status: "7"}},
			anomalies: map[string]float64{scp.AnomalyEmptyStatus: 1, scp.AnomalyOddStatus: 1}},
		{name: "a field of another type", body: `{"members":[{"member_id":"a1","status":{"x":1}}]}`,
			want:      []scp.Member{{ID: "a1", Status: "unknown"}},
			anomalies: map[string]float64{scp.AnomalyFieldType: 1, scp.AnomalyEmptyStatus: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, nil)
			e.fake.SetMembers(testImageID)
			e.fake.SetFault(testImageID, scptest.Fault{Status: http.StatusOK, Body: tc.body})
			got, err := e.client.ListImageMembers(context.Background(), testImageID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("members %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].ID != tc.want[i].ID || got[i].Status != tc.want[i].Status ||
					!got[i].CreatedAt.Equal(tc.want[i].CreatedAt) || !got[i].UpdatedAt.Equal(tc.want[i].UpdatedAt) {
					t.Errorf("member %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			for _, kind := range scp.Anomalies {
				v, _ := seriesValue(t, e.reg, "scp_api_answer_anomalies_total", map[string]string{"operation": "list_image_members", "kind": kind})
				if v != tc.anomalies[kind] {
					t.Errorf("anomalies of kind %s: %v, want %v", kind, v, tc.anomalies[kind])
				}
			}
		})
	}
}

// One unreadable image in a listing does not hide the others; a null list
// is empty; an odd owner is left empty, the image kept.
func TestImageListReadTolerantly(t *testing.T) {
	e := newEnv(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("visibility") == "shared" {
				w.Write([]byte(`{"images":null}`))
				return
			}
			w.Write([]byte(`{"images":[{"id":"` + imageID(1) + `","name":"a","owner":"0123","visibility":"private"},` +
				`{"id":"not-a-uuid"},7,{"id":"` + imageID(2) + `","owner":"bad owner!","visibility":"pri vate","created_at":"2024-06-16T02:55:13"}]}`))
		})
	}, nil)
	images, err := e.client.ListImages(context.Background(), "private")
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 2 || images[0].ID != imageID(1) || images[0].Owner != "0123" || images[1].ID != imageID(2) ||
		images[1].Owner != "" || images[1].Visibility != "" || !images[1].CreatedAt.Equal(time.Date(2024, 6, 16, 2, 55, 13, 0, time.UTC)) {
		t.Errorf("images %+v", images)
	}
	if shared, err := e.client.ListImages(context.Background(), "shared"); err != nil || len(shared) != 0 {
		t.Errorf("null images: %v, %v; want an empty list", shared, err)
	}
	for kind, want := range map[string]float64{scp.AnomalyInvalidImageID: 1, scp.AnomalyNotAnObject: 1, scp.AnomalyInvalidOwner: 1, scp.AnomalyInvalidVisibility: 1} {
		if v, _ := seriesValue(t, e.reg, "scp_api_answer_anomalies_total", map[string]string{"operation": "list_images", "kind": kind}); v != want {
			t.Errorf("anomalies of kind %s: %v, want %v", kind, v, want)
		}
	}
}
