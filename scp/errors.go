package scp

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode"
)

// Reason classifies why a call failed. Values are metric label values.
type Reason string

// Failure reasons.
const (
	ReasonTimeout      Reason = "timeout"
	ReasonNetwork      Reason = "network"
	ReasonUnauthorized Reason = "unauthorized" // 401
	ReasonForbidden    Reason = "forbidden"    // 403
	ReasonNotFound     Reason = "not_found"    // 404
	ReasonRateLimited  Reason = "rate_limited" // 429
	ReasonClientError  Reason = "client_error" // other 4xx
	ReasonServerError  Reason = "server_error" // 5xx
	ReasonDecode       Reason = "decode"       // a 2xx answer that does not parse
	// ReasonUnsupportedVersion is a 4xx answer whose error code or detail
	// names the API version (see refusesVersion).
	ReasonUnsupportedVersion Reason = "unsupported_version"
)

// Reasons lists every reason, so metrics can start each at zero.
var Reasons = []Reason{
	ReasonTimeout, ReasonNetwork, ReasonUnauthorized, ReasonForbidden, ReasonNotFound,
	ReasonRateLimited, ReasonClientError, ReasonServerError, ReasonDecode, ReasonUnsupportedVersion,
}

// refusesVersion reports whether an error answer refuses the request for its
// Scp-Api-Version. No error schema is published, so this is an assumption:
// a 4xx other than 429 whose error code or detail mentions the API version
// ("api version", "api-version", "api_version", "apiversion", in any case,
// as in "Scp-Api-Version" or "UnsupportedApiVersion").
func refusesVersion(status int, code, detail string) bool {
	if status < 400 || status > 499 || status == 429 {
		return false
	}
	norm := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(code + " " + detail))
	return strings.Contains(norm, "apiversion")
}

// ReasonForStatus maps a non-2xx HTTP status to its reason.
func ReasonForStatus(code int) Reason {
	switch {
	case code == http.StatusUnauthorized:
		return ReasonUnauthorized
	case code == http.StatusForbidden:
		return ReasonForbidden
	case code == http.StatusNotFound:
		return ReasonNotFound
	case code == http.StatusTooManyRequests:
		return ReasonRateLimited
	case code >= 500:
		return ReasonServerError
	default:
		return ReasonClientError
	}
}

// APIError is an answer from the API with a non-2xx status.
type APIError struct {
	Operation  string
	StatusCode int
	// Code and Detail come from the error body when it has them; they are
	// for logs only and are cut to a safe length.
	Code   string
	Detail string
	Reason Reason
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: api answered %d %s", e.Operation, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, " (code %s)", e.Code)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	return b.String()
}

// DecodeError is a 2xx answer whose body could not be used.
type DecodeError struct {
	Operation string
	Err       error
}

func (e *DecodeError) Error() string {
	if e.Operation == "" {
		return fmt.Sprintf("malformed response: %v", e.Err)
	}
	return fmt.Sprintf("%s: malformed response: %v", e.Operation, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ErrBodyTooLarge is wrapped when a response body exceeds the client's cap.
var ErrBodyTooLarge = errors.New("response body too large")

// ReasonOf classifies any error returned by this package's calls.
func ReasonOf(err error) Reason {
	if err == nil {
		return "" // before the targets below, which escape to the heap
	}
	var apiErr *APIError
	var decErr *DecodeError
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		return apiErr.Reason
	case errors.As(err, &decErr):
		// Before ErrInvalidID: a bad ID in the server's answer is the
		// server's fault, not the caller's.
		return ReasonDecode
	case errors.Is(err, ErrInvalidID):
		return ReasonClientError
	case errors.Is(err, ErrPaused):
		return ReasonRateLimited
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ReasonTimeout
	case errors.As(err, &netErr) && netErr.Timeout():
		return ReasonTimeout
	default:
		return ReasonNetwork
	}
}

const maxDetailLen = 300

// errorBody is the union of the error shapes the services are known to
// send (shared/scp-api.md, "Errors"): {"errors":[{"code","detail"}]},
// {"message": …}, and FastAPI's {"detail": …}, whose detail is a string
// or a list of validation errors.
type errorBody struct {
	Errors []struct {
		Code   flexString      `json:"code"`
		Detail json.RawMessage `json:"detail"`
	} `json:"errors"`
	Message json.RawMessage `json:"message"`
	Detail  json.RawMessage `json:"detail"`
}

// parseErrorBody pulls a code and a human detail out of an error body. It
// never fails: what it cannot read it leaves empty. A body that is a list
// is read as a list of validation errors ([{"loc","msg","type"}]).
func parseErrorBody(body []byte) (code, detail string) {
	var details []string
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		for _, e := range eb.Errors {
			if code == "" {
				code = e.Code.s
			}
			details = append(details, rawStrings(e.Detail)...)
		}
		if len(details) == 0 {
			details = rawStrings(eb.Detail)
		}
		if len(details) == 0 {
			details = rawStrings(eb.Message)
		}
	} else {
		details = rawStrings(body)
	}
	return sanitize(code, 64), sanitize(strings.Join(details, "; "), maxDetailLen)
}

// rawStrings reads a JSON string, a list of strings, or a list of
// validation errors (objects with a "msg" or "message").
func rawStrings(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var objects []struct {
		Msg     string `json:"msg"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &objects) == nil {
		list = nil // the failed read above may have left empty entries
		for _, o := range objects {
			if m := cmp.Or(o.Msg, o.Message); m != "" {
				list = append(list, m)
			}
		}
		return list
	}
	return nil
}

// sanitize makes text from the network safe for a log line: printable
// characters only, at most maxLen runes.
func sanitize(s string, maxLen int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxLen {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
