package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// Keys the fake API accepts in these tests. Test values, not real keys.
const (
	testAccessKey = "e2e-access-key"
	testSecretKey = "e2e-secret-key-do-not-log"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildDir  string
)

// fakeAPIPackage is the fake SCP API's command, built by the demo tests.
const fakeAPIPackage = "../scp/scptest/cmd/scp-fake-api"

// TestMain removes the binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// exporterBinary builds scp_exporter once per test run, with version
// information set the way the Makefile sets it.
func exporterBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "scp-exporter-e2e-") //nolint:usetesting // shared by all tests, removed in TestMain
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "scp_exporter")
		ldflags := "-X github.com/prometheus/common/version.Version=0.0.0-e2e -X github.com/prometheus/common/version.Revision=e2etest -X github.com/prometheus/common/version.Branch=e2e"
		cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", buildPath, "..")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// requireTool returns the path of an external tool. Without it the test is
// skipped locally, and fails under CI (CI=true), where the tool must be installed.
func requireTool(t testing.TB, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	skipOrFail(t, fmt.Sprintf("%s not found in PATH; install it with: %s", name, install))
	return ""
}

// skipOrFail skips the test for want of what msg names, or fails it under
// CI (CI=true), which must provide everything the tests need.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must not skip this test: %s", msg)
	}
	t.Skip(msg)
}

// startFake serves a fake SCP API on loopback for the test's lifetime.
func startFake(t testing.TB, opts scptest.Options) (*scptest.Fake, string) {
	t.Helper()
	if opts.AccessKey == "" {
		opts.AccessKey, opts.SecretKey = testAccessKey, testSecretKey
	}
	fake := scptest.New(opts)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv.URL
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// writeFile writes content to name in dir and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// configYAML returns a config for the fake at endpoint. images maps image IDs
// to their expected members; extra is appended as is.
func configYAML(endpoint string, images map[string][]string, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scp:\n  endpoint: %s\n  access_key: %s\n  secret_key: %s\n", endpoint, testAccessKey, testSecretKey)
	b.WriteString("images:\n")
	for id, expected := range images {
		fmt.Fprintf(&b, "  - id: %s\n    name: image-%s\n", id, id[:8])
		if len(expected) > 0 {
			fmt.Fprintf(&b, "    expected_members: [%s]\n", strings.Join(expected, ", "))
		}
	}
	b.WriteString(extra)
	return b.String()
}

// exporterProcess is a running scp_exporter.
type exporterProcess struct {
	URL    string // http://127.0.0.1:port
	Cmd    *exec.Cmd
	Output *testproc.Buffer // stdout and stderr
	Proc   *testproc.Process
}

// startExporter runs the binary with the config file and waits until it
// answers /-/healthy. It is stopped when the test ends.
func startExporter(t testing.TB, configPath string, args ...string) *exporterProcess {
	t.Helper()
	return launchExporter(t, "http", func(base string) bool {
		resp, err := http.Get(base + "/-/healthy")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, append([]string{"--config.file=" + configPath}, args...)...)
}

// launchExporter runs the binary on a free loopback port with args and waits
// until up(base URL) is true. scheme is http or https.
func launchExporter(t testing.TB, scheme string, up func(base string) bool, args ...string) *exporterProcess {
	t.Helper()
	addr := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--web.listen-address="); ok {
			addr = v // the caller's: a restart on the same address
		}
	}
	if addr == "" {
		addr = freeAddr(t)
		args = append([]string{"--web.listen-address=" + addr}, args...)
	}
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--storage.path") }) {
		// A state of its own: tests never share one (nor write into the
		// package directory).
		args = append(args, "--storage.path="+t.TempDir())
	}
	cmd := exec.Command(exporterBinary(t), args...)
	proc := testproc.Start(t, "exporter", cmd, 5*time.Second)
	p := &exporterProcess{URL: scheme + "://" + addr, Cmd: cmd, Output: proc.Output, Proc: proc}
	proc.WaitUntil(t, 15*time.Second, func() bool { return up(p.URL) })
	return p
}

// httpGet fetches url and returns the status and body.
func httpGet(t testing.TB, url string, header ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// hasLine reports whether the metrics page has line as a whole line, so that
// "x 1" does not match "x 10". A want ending in "," or "{" is a prefix.
func hasLine(body, line string) bool {
	if strings.HasSuffix(line, ",") || strings.HasSuffix(line, "{") {
		return strings.Contains("\n"+body, "\n"+line)
	}
	return strings.Contains("\n"+body+"\n", "\n"+line+"\n")
}
