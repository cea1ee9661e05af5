package scp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Defaults for Options fields left zero.
const (
	DefaultLanguage     = "en-US"
	DefaultMaxBodyBytes = 4 << 20
	maxErrorBodyBytes   = 64 << 10
	retryBaseDelay      = 200 * time.Millisecond
	retryMaxDelay       = 5 * time.Second
	// maxRetryAfter caps a server's Retry-After, for calls without a deadline.
	maxRetryAfter = time.Minute
)

// Options configure a Client. BaseURL, AccessKey and SecretKey are required.
type Options struct {
	// BaseURL is the Virtual Server endpoint, e.g.
	// https://virtualserver.kr-west1.e.samsungsdscloud.com. It is used as is
	// (a path prefix is kept) and is part of the signature.
	BaseURL    string
	AccessKey  string
	SecretKey  string
	AccountID  string // optional; Scp-AccountId is always sent
	APIVersion APIVersion
	Language   string // Accept-Language: en-US or ko-KR

	// HTTPClient is shared by all calls; size its keep-alive pool for the
	// concurrency. Defaults to a client with a pool of 100 per host.
	HTTPClient *http.Client
	// RequestTimeout bounds one attempt (config.Timing's RequestTimeout);
	// 0 leaves that to the call's context, which bounds every call.
	RequestTimeout time.Duration
	// MaxRetries is how often a GET is retried after a network error, 429,
	// 502, 503 or 504, while the context's deadline allows.
	MaxRetries int
	// Budget, when set, bounds every attempt: a slot and a token are taken
	// before it, and throttled answers lower its rate.
	Budget *Budget
	// MaxBodyBytes caps a response body; a larger one is a decode error.
	MaxBodyBytes int64
	Metrics      *Metrics
	// Now is the clock used for Scp-Timestamp. Defaults to time.Now.
	Now       func() time.Time
	UserAgent string
	// Logger receives debug lines about answers read in part. Defaults to none.
	Logger log.Logger
	// AuditEndpoint, when set, is the Logging & Audit service's URL (the
	// config's scp.audit_endpoint), used as is; otherwise ListAuditEvents
	// takes it from IAM's endpoint catalog (see Resolve).
	AuditEndpoint string
	// AuditAPIVersion is the Logging & Audit version to request ("1.0",
	// "1.1"), or "latest" (also when empty) for the newest the service
	// lists as CURRENT among those the client reads.
	AuditAPIVersion string
}

// Client calls the SCP Virtual Server API. It is safe for concurrent use.
type Client struct {
	opts   Options
	secret []byte
	// base is the Virtual Server URL, without a trailing slash; the
	// endpoint catalog may change it while calls run (SetBaseURL).
	base atomic.Pointer[string]
	// version is the API version requested, with its header value made
	// once; the server's version list may change it (SetAPIVersion).
	version atomic.Pointer[versionInUse]
	// info is what resolution learned (see Resolve); nil before.
	info    atomic.Pointer[ServiceInfo]
	resolve resolveState
	// audit is where the Logging & Audit URL comes from (see auditBase).
	audit auditState
	// HMACs keyed with the secret (hash.Hash values are not safe for
	// concurrent use).
	macs sync.Pool
}

type versionInUse struct {
	v      APIVersion
	header string
}

// validUUID reports whether s matches
// ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			switch {
			case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			default:
				return false
			}
		}
	}
	return true
}

// validToken reports whether s is 1 to maxLen of [A-Za-z0-9-], and of _ too
// when underscore is set.
func validToken(s string, maxLen int, underscore bool) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := range len(s) {
		switch c := s[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '-', underscore && c == '_':
		default:
			return false
		}
	}
	return true
}

// validMemberID reports whether s matches ^[A-Za-z0-9-]{1,64}$.
func validMemberID(s string) bool { return validToken(s, 64, false) }

// validStatus reports whether s has the form of a share status or a
// visibility: ^[A-Za-z0-9_-]{1,32}$.
func validStatus(s string) bool { return validToken(s, 32, true) }

// ErrInvalidID is wrapped when an image or member ID is not of the form the
// API defines; such an ID never reaches a URL.
var ErrInvalidID = errors.New("invalid id")

// ValidateImageID checks that id is a UUID, the form of SCP image IDs.
func ValidateImageID(id string) error {
	if !validUUID(id) {
		return fmt.Errorf("%w: image id %q is not a UUID", ErrInvalidID, sanitize(id, 80))
	}
	return nil
}

// ValidateMemberID checks that id has the form the API accepts for accounts.
func ValidateMemberID(id string) error {
	if !validMemberID(id) {
		return fmt.Errorf("%w: member id %q must match ^[A-Za-z0-9-]{1,64}$", ErrInvalidID, sanitize(id, 80))
	}
	return nil
}

// BaseURLFor builds the Virtual Server endpoint for a region and environment.
func BaseURLFor(region, environment string) string {
	return fmt.Sprintf("https://virtualserver.%s.%s.samsungsdscloud.com", region, environment)
}

// NewClient checks the options and returns a client.
func NewClient(o Options) (*Client, error) {
	if err := ValidateEndpoint(o.BaseURL); err != nil {
		return nil, err
	}
	if o.AccessKey == "" || o.SecretKey == "" {
		return nil, errors.New("access key and secret key are required")
	}
	if o.AuditEndpoint != "" {
		if err := ValidateEndpoint(o.AuditEndpoint); err != nil {
			return nil, fmt.Errorf("audit %w", err)
		}
	}
	if o.APIVersion.ID == "" {
		o.APIVersion, _ = LookupAPIVersion(DefaultAPIVersion)
	}
	if o.Language == "" {
		o.Language = DefaultLanguage
	}
	if o.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 100
		o.HTTPClient = &http.Client{Transport: t}
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	c := &Client{opts: o, secret: []byte(o.SecretKey)}
	c.setBase(o.BaseURL)
	c.SetAPIVersion(o.APIVersion)
	c.macs.New = func() any { return hmac.New(sha256.New, c.secret) }
	return c, nil
}

// ValidateEndpoint checks that u can serve as a service's base URL: an
// absolute http or https URL without user info, query or fragment.
func ValidateEndpoint(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("endpoint %q is not an absolute http or https URL", sanitize(u, 200))
	}
	if p.RawQuery != "" || p.Fragment != "" || p.User != nil || p.ForceQuery {
		return fmt.Errorf("endpoint %q must not have a query, fragment or user info", sanitize(p.Redacted(), 200))
	}
	return nil
}

func (c *Client) setBase(u string) {
	b := strings.TrimRight(u, "/")
	c.base.Store(&b)
}

// SetBaseURL points the client's calls at another Virtual Server URL, such
// as one the endpoint catalog names; calls under way finish where they are.
func (c *Client) SetBaseURL(u string) error {
	if err := ValidateEndpoint(u); err != nil {
		return err
	}
	c.setBase(u)
	return nil
}

// BaseURL is the Virtual Server URL the client calls now.
func (c *Client) BaseURL() string { return *c.base.Load() }

// SetAPIVersion changes the version later calls request.
func (c *Client) SetAPIVersion(v APIVersion) {
	c.version.Store(&versionInUse{v: v, header: v.HeaderValue()})
}

// APIVersion is the version the client requests now.
func (c *Client) APIVersion() APIVersion { return c.version.Load().v }

// Member is one account an image is shared with.
type Member struct {
	ID     string
	Status string // pending, accepted, rejected, or whatever newer status the API sends
	// CreatedAt and UpdatedAt are zero when the API left them out or sent
	// something that is not a time (RFC 3339, zone-less as UTC, or Unix
	// seconds).
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ListImageMembers returns the accounts the image is shared with
// (GET /v1/images/{image_id}/members). An entry it cannot use is skipped,
// counted and logged at debug level; the others are kept.
func (c *Client) ListImageMembers(ctx context.Context, imageID string) ([]Member, error) {
	if err := ValidateImageID(imageID); err != nil {
		return nil, fmt.Errorf("%s: %w", OpListImageMembers, err)
	}
	var body membersJSON
	path := "/v1/images/" + url.PathEscape(imageID) + "/members"
	if err := c.get(ctx, OpListImageMembers, path, nil, &body); err != nil {
		return nil, err
	}
	members, err := decodeMembers(body, c.anomalies(OpListImageMembers, "image_id", imageID))
	if err != nil {
		// The attempt was recorded as a 200; count why its answer is unusable.
		c.opts.Metrics.decodeFailed(OpListImageMembers)
	}
	return members, err
}

// anomalies counts and logs what an answer had that could not be used.
func (c *Client) anomalies(op Operation, keyvals ...any) anomalyFunc {
	return func(kind, detail string) {
		c.opts.Metrics.anomaly(op, kind)
		level.Debug(c.opts.Logger).Log(append([]any{"msg", "skipped or cleaned part of an API answer", "operation", op, "anomaly", kind, "detail", detail}, keyvals...)...)
	}
}

// get performs a signed GET with retries and decodes a 2xx JSON body into out.
func (c *Client) get(ctx context.Context, op Operation, path string, query url.Values, out any) error {
	full := c.BaseURL() + path
	if len(query) > 0 {
		full += "?" + query.Encode()
	}
	return c.getURL(ctx, op, full, true, out)
}

// getURL performs a GET of the full URL, signed or not, with retries.
func (c *Client) getURL(ctx context.Context, op Operation, full string, signed bool, out any) error {
	for attempt := 0; ; attempt++ {
		retryAfter, err := c.budgeted(ctx, op, full, signed, out)
		if err == nil {
			return nil
		}
		if attempt >= c.opts.MaxRetries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		wait := backoff(attempt)
		if retryAfter > 0 {
			if op.audit() {
				return err // the audit trail is paused (see budgeted): the next poll covers the gap
			}
			wait = min(retryAfter, maxRetryAfter)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			return err
		}
		c.opts.Metrics.retried(op)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// budgeted makes one attempt within the account's budget, and tells the
// budget whether the API throttled it. The Logging & Audit service's
// throttling is its own: it neither lowers the account's rate, which the
// members refresh lives on, nor pauses the Virtual Server calls; its
// Retry-After pauses the audit calls alone.
func (c *Client) budgeted(ctx context.Context, op Operation, full string, signed bool, out any) (time.Duration, error) {
	if op.audit() {
		if err := c.audit.pause.check(time.Now(), "the Logging & Audit service"); err != nil {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
	}
	b := c.opts.Budget
	var retryAfter time.Duration
	var err error
	if b == nil {
		retryAfter, err = c.attempt(ctx, op, full, signed, out)
	} else {
		release, aerr := b.Acquire(ctx)
		if aerr != nil {
			return 0, fmt.Errorf("%s: %w", op, aerr)
		}
		retryAfter, err = func() (time.Duration, error) {
			defer release() // a panic in the attempt must not keep the slot
			return c.attempt(ctx, op, full, signed, out)
		}()
	}
	var apiErr *APIError
	switch {
	case op.audit():
		c.audit.pause.extend(retryAfter, time.Now())
	case b == nil:
	case retryAfter > 0, errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests:
		b.Throttled()
		b.Pause(retryAfter)
	case err == nil:
		b.Succeeded()
	}
	return retryAfter, err
}

// audit reports whether op is a call of the Logging & Audit service.
func (op Operation) audit() bool { return op == OpListAuditLogs || op == OpListAuditVersions }

func retryable(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch apiErr.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return ReasonOf(err) == ReasonNetwork
}

// backoff is capped exponential with jitter: between half and all of
// base·2^attempt, at most retryMaxDelay.
func backoff(attempt int) time.Duration {
	d := retryBaseDelay << min(attempt, 10)
	d = min(d, retryMaxDelay)
	return d/2 + rand.N(d/2+1) //nolint:gosec // G404: retry jitter needs no cryptographic randomness
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// attempt makes one request, signed unless it is the version list. It
// returns the server's Retry-After.
func (c *Client) attempt(ctx context.Context, op Operation, full string, signed bool, out any) (time.Duration, error) {
	cancel := context.CancelFunc(func() {})
	if c.opts.RequestTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.opts.RequestTimeout)
	}
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: building request: %w", op, err)
	}
	if signed {
		c.sign(req, c.versionHeader(op))
	} else {
		req.Header.Set("Accept", "application/json")
		if c.opts.UserAgent != "" {
			req.Header.Set("User-Agent", c.opts.UserAgent)
		}
		if op == OpListAuditVersions {
			// Which service's list is asked for, for a host that serves
			// several (the fake); a service's own host ignores it.
			req.Header.Set(HeaderAPIVersion, c.versionHeader(op))
		}
	}

	start := time.Now()
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		err = fmt.Errorf("%s: %w", op, redactURLError(err))
		c.opts.Metrics.observe(op, 0, time.Since(start), ReasonOf(err))
		return 0, err
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		apiErr := &APIError{Operation: string(op), StatusCode: resp.StatusCode, Reason: ReasonForStatus(resp.StatusCode)}
		apiErr.Code, apiErr.Detail = parseErrorBody(body)
		if refusesVersion(resp.StatusCode, apiErr.Code, apiErr.Detail) {
			apiErr.Reason = ReasonUnsupportedVersion
		}
		c.opts.Metrics.observe(op, resp.StatusCode, time.Since(start), apiErr.Reason)
		return parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), apiErr
	}

	err = c.decode(resp.Body, out)
	if err != nil {
		err = fmt.Errorf("%s: %w", op, err)
	}
	c.opts.Metrics.observe(op, resp.StatusCode, time.Since(start), ReasonOf(err))
	return 0, err
}

// decode reads at most MaxBodyBytes of JSON into out. A body that breaks off
// is a transport error (timeout or network); one that is too large or does
// not parse is a *DecodeError.
func (c *Client) decode(r io.Reader, out any) error {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBody {
			buf.Reset()
			bodyBuffers.Put(buf)
		}
	}()
	_, err := buf.ReadFrom(&io.LimitedReader{R: r, N: c.opts.MaxBodyBytes + 1})
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if int64(buf.Len()) > c.opts.MaxBodyBytes {
		return &DecodeError{Err: fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, c.opts.MaxBodyBytes)}
	}
	// Unmarshal copies what it keeps, so the buffer can be reused.
	if err := json.Unmarshal(buf.Bytes(), out); err != nil {
		return &DecodeError{Err: fmt.Errorf("parsing JSON body: %w", err)}
	}
	return nil
}

// bodyBuffers hold answer bodies while they are decoded; those that grew
// past maxPooledBody are left to the collector.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 64 << 10

// Header names as net/http canonicalises them, so setting them costs no
// allocation; on the wire they are what Header.Set would send.
var (
	canonicalAccessKey  = http.CanonicalHeaderKey(HeaderAccessKey)
	canonicalTimestamp  = http.CanonicalHeaderKey(HeaderTimestamp)
	canonicalClientType = http.CanonicalHeaderKey(HeaderClientType)
	canonicalAccountID  = http.CanonicalHeaderKey(HeaderAccountID)
	canonicalAPIVersion = http.CanonicalHeaderKey(HeaderAPIVersion)
	canonicalSignature  = http.CanonicalHeaderKey(HeaderSignature)
)

// versionHeader is the Scp-Api-Version value of an operation's service:
// the Virtual Server version in use, the Logging & Audit one, or none for
// IAM (a virtualserver version is not its own, and without one a service
// uses its CURRENT version).
func (c *Client) versionHeader(op Operation) string {
	switch op {
	case OpListEndpoints:
		return ""
	case OpListAuditLogs, OpListAuditVersions:
		return c.auditHeader()
	}
	return c.version.Load().header
}

// sign sets the SCP headers, signing the URL exactly as it goes on the
// wire; version is the Scp-Api-Version value, none when empty.
func (c *Client) sign(req *http.Request, version string) {
	ts := Timestamp(c.opts.Now())
	mac := c.macs.Get().(hash.Hash)
	sig := signWith(mac, SigningInput{
		Method:     req.Method,
		URL:        req.URL.String(),
		Timestamp:  ts,
		AccessKey:  c.opts.AccessKey,
		AccountID:  c.opts.AccountID,
		ClientType: ClientType,
	})
	c.macs.Put(mac)
	// As Header.Set does, with one allocation for all the values. The
	// request is new, so its header is empty and is replaced whole.
	h := make(http.Header, 10)
	v := [...]string{c.opts.AccessKey, ts, ClientType, c.opts.AccountID, c.opts.Language, version, "application/json", sig, c.opts.UserAgent}
	vals := v[:]
	one := func(i int) []string { return vals[i : i+1 : i+1] }
	h[canonicalAccessKey] = one(0)
	h[canonicalTimestamp] = one(1)
	h[canonicalClientType] = one(2)
	h[canonicalAccountID] = one(3)
	h["Accept-Language"] = one(4)
	if version != "" {
		h[canonicalAPIVersion] = one(5)
	}
	h["Accept"] = one(6)
	h[canonicalSignature] = one(7)
	if c.opts.UserAgent != "" {
		h["User-Agent"] = one(8)
	}
	req.Header = h
}

// redactURLError drops the URL from a transport error: it is long, adds
// nothing the operation does not say, and could carry a proxy's user info.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
