package scp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, time.July, 22, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{" 7 ", 7 * time.Second},
		{"-3", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0}, // already past
		{"Tue, 22 Jul 2025 09:00:30 GMT", 30 * time.Second},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	// The README promises 0.2s doubling, at most 5s, with jitter down to half.
	for attempt := range 20 {
		d := min(200*time.Millisecond<<min(attempt, 10), 5*time.Second)
		for range 200 {
			got := backoff(attempt)
			if got < d/2 || got > d {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, got, d/2, d)
			}
		}
	}
}

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		name, body, code, detail string
	}{
		{"service shape", `{"errors":[{"status":404,"code":"NotFound","detail":"gone"}]}`, "NotFound", "gone"},
		{"detail only", `{"errors":[{"detail":"x"}]}`, "", "x"},
		{"detail list", `{"errors":[{"detail":["a","b"]}]}`, "", "a; b"},
		{"several errors", `{"errors":[{"code":"A","detail":"one"},{"code":"B","detail":["two"]}]}`, "A", "one; two"},
		{"numeric code", `{"errors":[{"code":409}]}`, "409", ""},
		{"message", `{"message":"old style"}`, "", "old style"},
		{"errors win over message", `{"errors":[{"detail":"new"}],"message":"old"}`, "", "new"},
		{"empty detail falls back to message", `{"errors":[{"detail":""}],"message":"old"}`, "", "old"},
		{"detail of another type", `{"errors":[{"detail":{"k":"v"}}]}`, "", ""},
		{"not json", `<html>502</html>`, "", ""},
		{"json array", `[1,2]`, "", ""},
		{"fastapi detail", `{"detail":"Unsupported API version: loggingaudit 1.0"}`, "", "Unsupported API version: loggingaudit 1.0"},
		{"fastapi validation errors", `{"detail":[{"loc":["header","Scp-Api-Version"],"msg":"unsupported api version","type":"value_error"}]}`, "", "unsupported api version"},
		{"validation error list", `[{"ctx":{},"loc":["query","size"],"msg":"too large","type_":"value_error"},{"message":"and this"}]`, "", "too large; and this"},
		{"errors win over detail", `{"errors":[{"detail":"new"}],"detail":"fastapi"}`, "", "new"},
		{"null", `null`, "", ""},
		{"empty", ``, "", ""},
		{"control characters", `{"errors":[{"code":"a\u0000b","detail":"x\ny"}]}`, "a?b", "x?y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, detail := parseErrorBody([]byte(tc.body))
			if code != tc.code || detail != tc.detail {
				t.Errorf("parseErrorBody = (%q, %q), want (%q, %q)", code, detail, tc.code, tc.detail)
			}
		})
	}
	t.Run("long detail is cut", func(t *testing.T) {
		long := strings.Repeat("é", 1000)
		_, detail := parseErrorBody([]byte(`{"errors":[{"code":"` + strings.Repeat("c", 100) + `","detail":"` + long + `"}]}`))
		if n := utf8.RuneCountInString(detail); n != maxDetailLen+1 || !strings.HasSuffix(detail, "…") {
			t.Errorf("detail has %d runes (%q...), want %d and an ellipsis", n, detail[:20], maxDetailLen+1)
		}
	})
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"a\tb\x00c", 10, "a?b?c"},
		{"\xff", 10, "\uFFFD"},
		{"", 5, ""},
	}
	for _, tc := range tests {
		if got := sanitize(tc.in, tc.max); got != tc.want {
			t.Errorf("sanitize(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestReasonForStatus(t *testing.T) {
	tests := map[int]Reason{
		400: ReasonClientError, 401: ReasonUnauthorized, 403: ReasonForbidden, 404: ReasonNotFound,
		405: ReasonClientError, 409: ReasonClientError, 429: ReasonRateLimited,
		500: ReasonServerError, 502: ReasonServerError, 503: ReasonServerError, 504: ReasonServerError,
	}
	for code, want := range tests {
		if got := ReasonForStatus(code); got != want {
			t.Errorf("ReasonForStatus(%d) = %s, want %s", code, got, want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestReasonOf(t *testing.T) {
	var _ net.Error = timeoutErr{}
	tests := []struct {
		name string
		err  error
		want Reason
	}{
		{"nil", nil, ""},
		{"api error", fmt.Errorf("wrapped: %w", &APIError{StatusCode: 403, Reason: ReasonForbidden}), ReasonForbidden},
		{"decode", &DecodeError{Err: errors.New("bad")}, ReasonDecode},
		{"bad id in an answer", &DecodeError{Err: fmt.Errorf("member 0: %w", ErrInvalidID)}, ReasonDecode},
		{"bad id from the caller", fmt.Errorf("op: %w", ErrInvalidID), ReasonClientError},
		{"deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), ReasonTimeout},
		{"canceled", context.Canceled, ReasonTimeout},
		{"net timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, ReasonTimeout},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, ReasonNetwork},
		{"anything else", errors.New("EOF"), ReasonNetwork},
	}
	for _, tc := range tests {
		if got := ReasonOf(tc.err); got != tc.want {
			t.Errorf("%s: ReasonOf = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDecodeErrorText(t *testing.T) {
	inner := errors.New("bad")
	e := &DecodeError{Err: inner}
	if e.Error() != "malformed response: bad" || !errors.Is(e, inner) {
		t.Errorf("DecodeError without operation: %q", e.Error())
	}
	e.Operation = "op"
	if e.Error() != "op: malformed response: bad" {
		t.Errorf("DecodeError with operation: %q", e.Error())
	}
}

// A refusal naming the version is unsupported_version in every error shape
// the services send.
func TestVersionRefusalInEveryErrorShape(t *testing.T) {
	for _, body := range []string{
		`{"errors":[{"code":"UnsupportedApiVersion","detail":"no"}]}`,
		`{"message":"Scp-Api-Version loggingaudit 1.0 is not supported"}`,
		`{"detail":"unsupported API version"}`,
		`{"detail":[{"loc":["header","scp-api-version"],"msg":"value is not a supported api_version","type":"value_error"}]}`,
		`[{"loc":["header"],"msg":"bad api-version","type_":"value_error"}]`,
	} {
		code, detail := parseErrorBody([]byte(body))
		if !refusesVersion(400, code, detail) {
			t.Errorf("%s: not read as a version refusal (code %q, detail %q)", body, code, detail)
		}
	}
	if code, detail := parseErrorBody([]byte(`{"detail":"image not found"}`)); refusesVersion(404, code, detail) {
		t.Error("a refusal that does not name the version was read as one")
	}
}
