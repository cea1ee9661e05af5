// Package scp is a client for the parts of the Samsung Cloud Platform (SCP)
// Virtual Server OpenAPI that the exporter reads: image members, images and
// pending images. It signs every request, maps failures to typed errors and
// records its own request metrics. It knows nothing of Prometheus collectors.
package scp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strconv"
	"sync"
	"time"
)

// ClientType is the value of the Scp-ClientType header. It is part of the
// signed string, so its case matters.
const ClientType = "Openapi"

// Header names sent on every request.
const (
	HeaderAccessKey  = "Scp-AccessKey"
	HeaderTimestamp  = "Scp-Timestamp"
	HeaderClientType = "Scp-ClientType"
	HeaderSignature  = "Scp-Signature"
	HeaderAccountID  = "Scp-AccountId"
	HeaderAPIVersion = "Scp-Api-Version"
)

// SigningInput is everything the SCP request signature covers.
type SigningInput struct {
	Method     string // upper-case HTTP method
	URL        string // the full URL exactly as sent: scheme, host, port, escaped path, raw query
	Timestamp  string // Unix time in milliseconds, decimal
	AccessKey  string
	AccountID  string // empty when none is configured
	ClientType string
}

// Sign returns the base64 (standard, padded) HMAC-SHA256 of the signing
// input, keyed with the secret key.
func Sign(in SigningInput, secretKey []byte) string {
	return signWith(hmac.New(sha256.New, secretKey), in)
}

// signWith signs with mac, an HMAC-SHA256 keyed with the secret key, and
// resets it for the next use.
func signWith(mac hash.Hash, in SigningInput) string {
	bp := signBuffers.Get().(*[]byte)
	b := (*bp)[:0]
	for _, s := range [...]string{in.Method, in.URL, in.Timestamp, in.AccessKey, in.AccountID, in.ClientType} {
		b = append(b, s...)
	}
	mac.Write(b)
	sum := mac.Sum(b[:0])
	mac.Reset()
	var out [44]byte // base64 of 32 bytes
	base64.StdEncoding.Encode(out[:], sum)
	*bp = b
	signBuffers.Put(bp)
	return string(out[:])
}

// signBuffers hold the string to sign, so a signature costs one allocation.
var signBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Timestamp formats t as the Scp-Timestamp header wants it: Unix milliseconds.
func Timestamp(t time.Time) string {
	return strconv.FormatInt(t.UnixMilli(), 10)
}
