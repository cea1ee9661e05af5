package scp

// encoding/json spends more CPU on a members answer than everything else
// the exporter does for that request together (reflection, a validating
// pre-scan, then the decode). parseMembersFast reads the plain shape the API
// sends — an object with a "members" array of flat objects whose values are
// strings without escapes — in one pass. For anything else it gives up and
// the caller runs encoding/json, so the result (and any error) is always
// what encoding/json would produce: it gives up on escapes and non-ASCII
// bytes, nested values besides the members array, a repeated key, a key
// that matches a field only without regard to case (encoding/json would
// accept it), null or a number where a string is expected, and anything
// that is not valid JSON. FuzzMembersFastPath checks it against
// encoding/json.

// The fields of memberJSON, as encoding/json matches them.
const (
	keyMembers   = "members"
	keyMemberID  = "member_id"
	keyStatus    = "status"
	keyCreatedAt = "created_at"
	keyUpdatedAt = "updated_at"
)

// parseMembersFast fills out from data and reports true, or reports false
// having left out alone.
func parseMembersFast(data []byte, out *membersJSON) bool {
	p := fastParser{data: data}
	p.space()
	if !p.byte('{') {
		return false
	}
	var members []memberJSON
	seen := false
	p.space()
	if !p.byte('}') {
		for {
			key, ok := p.plainString()
			if !ok || !p.colon() {
				return false
			}
			switch {
			case key == keyMembers:
				if seen {
					return false
				}
				seen = true
				if members, ok = p.members(); !ok {
					return false
				}
			case foldsTo(key, keyMembers):
				return false
			default:
				if !p.scalar() {
					return false
				}
			}
			p.space()
			if p.byte('}') {
				break
			}
			if !p.byte(',') {
				return false
			}
			p.space()
		}
	}
	p.space()
	if p.i != len(p.data) || !seen {
		return false // trailing bytes, or no members list (encoding/json words that error)
	}
	out.Members = &members
	return true
}

type fastParser struct {
	data []byte
	i    int
}

func (p *fastParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c if it is next.
func (p *fastParser) byte(c byte) bool {
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) colon() bool {
	p.space()
	if !p.byte(':') {
		return false
	}
	p.space()
	return true
}

// plainBytes reads a string of printable ASCII without escapes and returns
// its contents.
func (p *fastParser) plainBytes() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			p.i++
			return p.data[start : p.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// plainString is plainBytes as a string, for the few top-level keys.
func (p *fastParser) plainString() (string, bool) {
	b, ok := p.plainBytes()
	return string(b), ok
}

// scalar skips a plain string, a number, true, false or null.
func (p *fastParser) scalar() bool {
	if p.i >= len(p.data) {
		return false
	}
	switch c := p.data[p.i]; {
	case c == '"':
		_, ok := p.plainBytes()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(p.data)-p.i >= len(lit) && string(p.data[p.i:p.i+len(lit)]) == lit {
			p.i += len(lit)
			return p.i == len(p.data) || !isLetter(p.data[p.i])
		}
	}
	return false
}

func isLetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// number skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *fastParser) number() bool {
	p.byte('-')
	switch {
	case p.byte('0'):
	case p.i < len(p.data) && '1' <= p.data[p.i] && p.data[p.i] <= '9':
		p.digits()
	default:
		return false
	}
	if p.byte('.') && !p.digits() {
		return false
	}
	if p.byte('e') || p.byte('E') {
		if !p.byte('+') {
			p.byte('-')
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

func (p *fastParser) digits() bool {
	start := p.i
	for p.i < len(p.data) && '0' <= p.data[p.i] && p.data[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// members reads the members array.
func (p *fastParser) members() ([]memberJSON, bool) {
	if !p.byte('[') {
		return nil, false
	}
	out := make([]memberJSON, 0, 4)
	p.space()
	if p.byte(']') {
		return out, true
	}
	for {
		m, ok := p.member()
		if !ok {
			return nil, false
		}
		out = append(out, m)
		p.space()
		if p.byte(']') {
			return out, true
		}
		if !p.byte(',') {
			return nil, false
		}
		p.space()
	}
}

// member reads one flat member object.
func (p *fastParser) member() (memberJSON, bool) {
	var m memberJSON
	if !p.byte('{') {
		return m, false
	}
	var have [4]bool
	p.space()
	if p.byte('}') {
		return m, true
	}
	for {
		key, ok := p.plainBytes()
		if !ok || !p.colon() {
			return m, false
		}
		var dst *string
		var seen *bool
		switch string(key) {
		case keyMemberID:
			dst, seen = &m.MemberID, &have[0]
		case keyStatus:
			dst, seen = &m.Status, &have[1]
		case keyCreatedAt:
			dst, seen = &m.CreatedAt, &have[2]
		case keyUpdatedAt:
			dst, seen = &m.UpdatedAt, &have[3]
		}
		switch {
		case dst == nil:
			k := string(key)
			if foldsTo(k, keyMemberID) || foldsTo(k, keyStatus) || foldsTo(k, keyCreatedAt) || foldsTo(k, keyUpdatedAt) {
				return m, false
			}
			if !p.scalar() {
				return m, false
			}
		case *seen:
			return m, false
		default:
			*seen = true
			v, ok := p.plainBytes()
			if !ok {
				return m, false
			}
			if dst == &m.Status {
				*dst = knownStatus(v)
			} else {
				*dst = string(v)
			}
		}
		p.space()
		if p.byte('}') {
			return m, true
		}
		if !p.byte(',') {
			return m, false
		}
		p.space()
	}
}

// knownStatus returns the usual statuses without allocating.
func knownStatus(b []byte) string {
	switch string(b) {
	case "pending":
		return "pending"
	case "accepted":
		return "accepted"
	case "rejected":
		return "rejected"
	}
	return string(b)
}

// foldsTo reports whether key (ASCII) equals name regardless of case, but
// not exactly: encoding/json would fill the field from it.
func foldsTo(key, name string) bool {
	if len(key) != len(name) || key == name {
		return false
	}
	for i := range len(key) {
		a, b := key[i], name[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}
