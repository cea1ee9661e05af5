package scp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The API's answers are read as the official SDK reads them: every field a
// plain string, a null list an empty list. An entry or a field the exporter
// cannot use is skipped on its own, the rest of the list kept, and each such
// anomaly reported (to a counter and a debug log line) by its kind.

// Kinds of anomaly in an answer.
const (
	AnomalyNotAnObject       = "entry_not_an_object" // a list entry that is not a JSON object
	AnomalyFieldType         = "field_type"          // a field that is neither a string, a number nor null
	AnomalyInvalidMemberID   = "invalid_member_id"   // a member whose member_id is not an account ID: skipped
	AnomalyEmptyStatus       = "empty_status"        // a member without a status: shown as "unknown"
	AnomalyOddStatus         = "odd_status"          // a status with characters a label cannot carry: cleaned
	AnomalyBadTimestamp      = "bad_timestamp"       // a time that does not parse: left out, the member kept
	AnomalyInvalidImageID    = "invalid_image_id"    // an image whose id is not a UUID: skipped
	AnomalyInvalidOwner      = "invalid_owner"       // an owner that is not an account ID: left empty
	AnomalyInvalidVisibility = "invalid_visibility"  // a visibility of the wrong form: left empty
	AnomalyMissingOwner      = "missing_owner"       // an offered image without a readable owner: kept, as unexpected
)

// Anomalies lists every kind, so the counter can start each at zero.
var Anomalies = []string{
	AnomalyNotAnObject, AnomalyFieldType, AnomalyInvalidMemberID, AnomalyEmptyStatus, AnomalyOddStatus,
	AnomalyBadTimestamp, AnomalyInvalidImageID, AnomalyInvalidOwner, AnomalyInvalidVisibility, AnomalyMissingOwner,
}

// anomalyFunc receives one anomaly: its kind and a short description.
type anomalyFunc func(kind, detail string)

// flexString reads a JSON string, a number (as its text) or null (as ""),
// as the SDK's string fields do; anything else reads as "" and is marked.
type flexString struct {
	s   string
	odd bool
}

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0, string(b) == "null":
		f.s = ""
	case b[0] == '"':
		if json.Unmarshal(b, &f.s) != nil {
			f.odd = true
		}
	case b[0] == '-' || ('0' <= b[0] && b[0] <= '9'):
		f.s = string(b)
	default:
		f.odd = true
	}
	return nil
}

// rawList reads a list answer's key: absent is an error (it is not that
// answer), null or [] an empty list.
func rawList(raw json.RawMessage, key string) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, fmt.Errorf("no %q list in the answer", key)
	}
	if string(raw) == "null" {
		return []json.RawMessage{}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%q is not a list", key)
	}
	return list, nil
}

type memberJSON struct {
	MemberID  flexString `json:"member_id"`
	Status    flexString `json:"status"`
	CreatedAt flexString `json:"created_at"`
	UpdatedAt flexString `json:"updated_at"`
}

type membersJSON struct {
	Members json.RawMessage `json:"members"`
}

// decodeMembers reads a members answer tolerantly.
func decodeMembers(body membersJSON, report anomalyFunc) ([]Member, error) {
	list, err := rawList(body.Members, "members")
	if err != nil {
		return nil, &DecodeError{Operation: string(OpListImageMembers), Err: err}
	}
	out := make([]Member, 0, len(list))
	for i, raw := range list {
		var m memberJSON
		if !isObject(raw) || json.Unmarshal(raw, &m) != nil {
			report(AnomalyNotAnObject, fmt.Sprintf("member %d is not an object", i))
			continue
		}
		for _, f := range []flexString{m.MemberID, m.Status, m.CreatedAt, m.UpdatedAt} {
			if f.odd {
				report(AnomalyFieldType, fmt.Sprintf("member %d has a field that is not a string", i))
				break
			}
		}
		if !validMemberID(m.MemberID.s) {
			report(AnomalyInvalidMemberID, fmt.Sprintf("member %d: member_id %q is not an account ID", i, sanitize(m.MemberID.s, 80)))
			continue
		}
		member := Member{
			ID:        m.MemberID.s,
			Status:    memberStatus(m.Status.s, m.MemberID.s, report),
			CreatedAt: answerTime(m.CreatedAt.s, "created_at of member "+m.MemberID.s, report),
			UpdatedAt: answerTime(m.UpdatedAt.s, "updated_at of member "+m.MemberID.s, report),
		}
		// A member listed twice counts once, as the API last lists it: two
		// series with the same labels would fail a whole scrape.
		if j := slices.IndexFunc(out, func(o Member) bool { return o.ID == member.ID }); j >= 0 {
			out[j] = member
			continue
		}
		out = append(out, member)
	}
	return out, nil
}

// maxStatusLen caps a status (or visibility) used as a label value.
const maxStatusLen = 32

// memberStatus cleans a status for a label value: lower case, [a-z0-9_-]
// only (anything else becomes _), at most maxStatusLen characters; an
// empty one is "unknown". Whatever the API sends is shown, never dropped.
func memberStatus(s, id string, report anomalyFunc) string {
	if s == "" {
		report(AnomalyEmptyStatus, "member "+id+" has no status")
		return "unknown"
	}
	clean := cleanToken(s)
	if clean != strings.ToLower(s) {
		report(AnomalyOddStatus, fmt.Sprintf("member %s: status %q cleaned to %q", id, sanitize(s, 40), clean))
	}
	return clean
}

// cleanToken lower-cases s, replaces what is not [a-z0-9_-] with _, and cuts
// it to maxStatusLen bytes.
func cleanToken(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() == maxStatusLen {
			break
		}
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Time layouts the API's answers use, as the SDK reads them: RFC 3339, and
// without a zone (read as UTC), with or without a fraction.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"}

// answerTime reads a time field: RFC 3339, zone-less (UTC), or a number of
// Unix seconds (milliseconds when it is that large). Empty is zero; what
// does not parse is zero and reported.
func answerTime(s, what string, report anomalyFunc) time.Time {
	if s == "" {
		return time.Time{}
	}
	if t, ok := parseTime(s); ok {
		return t
	}
	report(AnomalyBadTimestamp, fmt.Sprintf("%s %q is not a time", what, sanitize(s, 40)))
	return time.Time{}
}

func parseTime(s string) (time.Time, bool) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && n > 0 && n < 1e15 {
		if n >= 1e11 { // milliseconds: past 1973 in ms, past year 5138 in s
			n /= 1000
		}
		sec := int64(n)
		return time.Unix(sec, int64((n-float64(sec))*1e9)).UTC(), true
	}
	return time.Time{}, false
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

type imageJSON struct {
	ID               flexString `json:"id"`
	Name             flexString `json:"name"`
	Status           flexString `json:"status"`
	Visibility       flexString `json:"visibility"`
	Owner            flexString `json:"owner"`
	OwnerAccountName flexString `json:"owner_account_name"`
	OSDistro         flexString `json:"os_distro"`
	CreatedAt        flexString `json:"created_at"`
	UpdatedAt        flexString `json:"updated_at"`
}

type imagesJSON struct {
	Images json.RawMessage `json:"images"`
}

// decodeImageList reads an image list answer tolerantly: an entry that is
// not an image is skipped and reported, the rest kept. entries counts every
// entry, readable or not: paging ends at a short page.
func decodeImageList(op Operation, body imagesJSON, report anomalyFunc) (images []Image, raws []imageJSON, entries int, err error) {
	list, err := rawList(body.Images, "images")
	if err != nil {
		return nil, nil, 0, &DecodeError{Operation: string(op), Err: err}
	}
	out := make([]Image, 0, len(list))
	raws = make([]imageJSON, 0, len(list))
	for i, raw := range list {
		var im imageJSON
		if !isObject(raw) || json.Unmarshal(raw, &im) != nil {
			report(AnomalyNotAnObject, fmt.Sprintf("image %d is not an object", i))
			continue
		}
		img, ok := im.decode(report)
		if !ok {
			continue
		}
		out = append(out, img)
		raws = append(raws, im)
	}
	return out, raws, len(list), nil
}

// decode checks an image's ID and cleans the fields that may become label
// values; it reports false for an entry that is not an image we can name.
func (im imageJSON) decode(report anomalyFunc) (Image, bool) {
	if !validUUID(im.ID.s) {
		report(AnomalyInvalidImageID, fmt.Sprintf("image id %q is not a UUID", sanitize(im.ID.s, 80)))
		return Image{}, false
	}
	for _, f := range []flexString{im.Name, im.Status, im.Visibility, im.Owner, im.OwnerAccountName, im.OSDistro, im.CreatedAt, im.UpdatedAt} {
		if f.odd {
			report(AnomalyFieldType, "image "+im.ID.s+" has a field that is not a string")
			break
		}
	}
	visibility := im.Visibility.s
	if visibility != "" && !validStatus(visibility) {
		report(AnomalyInvalidVisibility, fmt.Sprintf("image %s: visibility %q is malformed", im.ID.s, sanitize(visibility, 40)))
		visibility = ""
	}
	owner := im.Owner.s
	if owner != "" && !validMemberID(owner) {
		report(AnomalyInvalidOwner, fmt.Sprintf("image %s: owner %q is not an account ID", im.ID.s, sanitize(owner, 80)))
		owner = ""
	}
	return Image{
		ID:         im.ID.s,
		Name:       sanitize(im.Name.s, 256),
		Status:     sanitize(im.Status.s, 40),
		Visibility: strings.ToLower(visibility),
		Owner:      owner,
		OSDistro:   sanitize(im.OSDistro.s, 64),
		CreatedAt:  answerTime(im.CreatedAt.s, "created_at of image "+im.ID.s, report),
		UpdatedAt:  answerTime(im.UpdatedAt.s, "updated_at of image "+im.ID.s, report),
	}, true
}
