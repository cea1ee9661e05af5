package account

import (
	"net/http"
	"net/url"
	"testing"

	commoncfg "github.com/prometheus/common/config"

	"github.com/scp-exporter/scp_exporter/internal/config"
)

// Without proxy_url, calls go through the proxy the environment names,
// hosts in NO_PROXY directly; proxy_url carries every call.
func TestProxyFromTheEnvironmentUnlessProxyURL(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy.corp.test:3128")
	t.Setenv("HTTP_PROXY", "http://plain-proxy.corp.test:3128")
	t.Setenv("NO_PROXY", "iam.e.samsungsdscloud.com")
	proxyOf := func(p commoncfg.ProxyConfig, target string) string {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := p.Proxy()(req)
		if err != nil {
			t.Fatal(err)
		}
		if u == nil {
			return "direct"
		}
		return u.String()
	}
	env := proxyConfig(config.SCP{})
	for target, want := range map[string]string{
		"https://virtualserver.kr-west1.e.samsungsdscloud.com/v1/images": "http://proxy.corp.test:3128",
		"http://virtualserver.internal.test/v1/images":                   "http://plain-proxy.corp.test:3128",
		"https://iam.e.samsungsdscloud.com/v1/endpoints":                 "direct",
	} {
		if got := proxyOf(env, target); got != want {
			t.Errorf("from the environment, %s goes %s, want %s", target, got, want)
		}
	}
	explicit, _ := url.Parse("http://proxy.internal.test:8080")
	own := proxyConfig(config.SCP{ProxyURL: commoncfg.URL{URL: explicit}})
	for _, target := range []string{"https://virtualserver.kr-west1.e.samsungsdscloud.com/v1/images", "https://iam.e.samsungsdscloud.com/v1/endpoints"} {
		if got := proxyOf(own, target); got != explicit.String() {
			t.Errorf("with proxy_url, %s goes %s, want %s", target, got, explicit)
		}
	}
}
