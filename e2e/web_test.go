package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "scp_exporter e2e"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestWebConfigServesTLSWithBasicAuth runs the exporter behind
// exporter-toolkit's TLS and basic auth and checks both are enforced.
func TestWebConfigServesTLSWithBasicAuth(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA, scptest.Member{MemberID: memberOdd, Status: "pending"})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yml", configYAML(url, map[string][]string{imageA: nil}, ""))
	certFile, keyFile, pool := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-web-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := writeFile(t, dir, "web.yml", "tls_server_config:\n  cert_file: "+certFile+"\n  key_file: "+keyFile+
		"\nbasic_auth_users:\n  prometheus: "+string(hash)+"\n")

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	send := func(method, base, path, user, pass string) (int, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get := func(base, path, user, pass string) (int, string) { return send(http.MethodGet, base, path, user, pass) }
	exp := launchExporter(t, "https", func(base string) bool {
		code, _ := get(base, "/-/healthy", "prometheus", "s3cret-web-password")
		return code == http.StatusOK
	}, "--config.file="+cfg, "--web.config.file="+web)

	if code, _ := get(exp.URL, "/metrics", "", ""); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", code)
	}
	if code, _ := get(exp.URL, "/metrics", "prometheus", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("with a wrong password: %d, want 401", code)
	}
	code, body := get(exp.URL, "/metrics", "prometheus", "s3cret-web-password")
	if code != http.StatusOK || !strings.Contains(body, `scp_image_members{image_id="`+imageA+`",status="pending"} 1`) {
		t.Errorf("with credentials: %d\n%s", code, grepSCP(body))
	}
	// basic_auth_users puts auth in front of /-/reload too: it reloads
	// without --web.enable-lifecycle, for callers with credentials only.
	if code, msg := send(http.MethodPost, exp.URL, "/-/reload", "prometheus", "s3cret-web-password"); code != http.StatusOK {
		t.Errorf("POST /-/reload with credentials: %d %q, want 200", code, msg)
	}
	if code, _ := send(http.MethodPost, exp.URL, "/-/reload", "", ""); code != http.StatusUnauthorized {
		t.Errorf("POST /-/reload without credentials: %d, want 401", code)
	}
	if n := strings.Count(exp.Output.String(), "config reloaded"); n != 1 {
		t.Errorf("%d reloads logged, want 1", n)
	}
	// Plain HTTP is not served.
	if resp, err := http.Get(strings.Replace(exp.URL, "https://", "http://", 1) + "/metrics"); err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200 with TLS configured")
		}
		resp.Body.Close()
	}
	if strings.Contains(exp.Output.String(), "s3cret-web-password") {
		t.Error("the web password appears in the log")
	}
}

// TestDiscoveryAndSeveralAccounts runs the binary with two accounts, one of
// them discovering its images, against two fake APIs, and checks readiness,
// the account label and the discovery metrics.
func TestDiscoveryAndSeveralAccounts(t *testing.T) {
	prod, prodURL := startFake(t, scptest.Options{})
	prod.SetMembers(imageA, scptest.Member{MemberID: memberOK, Status: "accepted"})
	staging, stagingURL := startFake(t, scptest.Options{Latency: 0})
	staging.AddImages(
		scptest.Image{ID: imageB, Name: "golden-discovered", Visibility: "private", Owner: "acct-staging"},
		scptest.Image{ID: imageGone, Name: "scratch", Visibility: "private", Owner: "acct-staging"},
	)
	staging.SetMembers(imageB, scptest.Member{MemberID: memberOdd, Status: "pending"})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yml", `
expected_members: [`+memberOK+`]
accounts:
  - name: prod
    scp: {endpoint: "`+prodURL+`", access_key: `+testAccessKey+`, secret_key: `+testSecretKey+`}
    images: [{id: `+imageA+`, name: golden-static}]
  - name: staging
    scp: {endpoint: "`+stagingURL+`", access_key: `+testAccessKey+`, secret_key: `+testSecretKey+`, account_id: acct-staging}
    discovery: {enabled: true, visibility: [private], name_regex: "golden-.*"}
`)
	exp := launchExporter(t, "http", func(base string) bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "--config.file="+cfg)

	_, body := httpGet(t, exp.URL+"/metrics")
	for _, want := range []string{
		`scp_image_info{account="prod",image_id="` + imageA + `",name="golden-static"} 1`,
		`scp_image_info{account="staging",image_id="` + imageB + `",name="golden-discovered"} 1`,
		`scp_image_member_info{account="prod",expected="true",image_id="` + imageA + `",member_id="` + memberOK + `",status="accepted"} 1`,
		`scp_image_member_info{account="staging",expected="false",image_id="` + imageB + `",member_id="` + memberOdd + `",status="pending"} 1`,
		`scp_discovery_images{account="staging"} 1`,
		`scp_api_requests_total{account="staging",code="200",operation="list_images"} 2`, // private, and shared for images accepted from others
		`scp_api_request_errors_total{account="prod",operation="list_image_members",reason="timeout"} 0`,
	} {
		if !hasLine(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, imageGone) {
		t.Error("an image filtered out by name_regex is watched")
	}
	if !strings.Contains(body, `scp_discovery_last_success_timestamp_seconds{account="staging"} 1.`) {
		t.Errorf("no discovery success time:\n%s", grepSCP(body))
	}
	if strings.Contains(body, `scp_discovery_images{account="prod"}`) {
		t.Error("an account without discovery reports discovery metrics")
	}
}
