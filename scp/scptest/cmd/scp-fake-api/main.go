// Command scp-fake-api serves the fake SCP Virtual Server API of package
// scptest on a local address, with fixtures from a JSON file, together with
// IAM's endpoint catalog and the Logging & Audit trail (GET /v1/logs). It is
// what `make demo` points the exporter at; it is not for production.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

func main() {
	app := kingpin.New("scp-fake-api", "A fake SCP Virtual Server API that verifies request signatures, for demos and tests.")
	listen := app.Flag("listen", "Address to listen on (loopback only is wise).").Default("127.0.0.1:9858").String()
	fixtures := app.Flag("fixtures", `JSON file of images and their members, and of audit events ("audit_events": [{"after":"20s","event":{...},"members":[...]}]: an event added that long after start, with the members its image then has).`).Required().ExistingFile()
	accessKey := app.Flag("access-key", "Access key requests must carry.").Default("demo-access-key").String()
	secretKey := app.Flag("secret-key", "Secret key requests must be signed with (a demo value, not a real key).").Default("demo-secret-key").String()
	latency := app.Flag("latency", "Latency added to every answer.").Default("0s").Duration()
	throttleRate := app.Flag("throttle-rate", "Calls a second served before answering 429 with Retry-After, as an API gateway would (0: never).").Default("0").Float64()
	throttleBurst := app.Flag("throttle-burst", "Calls that may come at once within --throttle-rate.").Default(strconv.Itoa(scptest.DefaultThrottleBurst)).Int()
	versions := app.Flag("versions", "The version list GET / serves, and so the Scp-Api-Version values served, as id=STATUS pairs (default v1.0=DEPRECATED,v1.1=DEPRECATED,v1.2=SUPPORTED,v1.3=CURRENT).").String()
	catalog := app.Flag("catalog", `JSON file of IAM's endpoint catalog served at GET /v1/endpoints: [{"region":..,"service_type":..,"url":..}]; an entry without url names the fake itself (default: scp-virtualserver and scp-loggingaudit in every region, at the fake).`).ExistingFile()
	kingpin.MustParse(app.Parse(os.Args[1:]))
	if *throttleRate < 0 || *throttleBurst < 1 {
		fmt.Fprintln(os.Stderr, "scp-fake-api: --throttle-rate must not be negative and --throttle-burst must be at least 1")
		os.Exit(2)
	}

	opts := scptest.Options{AccessKey: *accessKey, SecretKey: *secretKey, Latency: *latency,
		ThrottleRate: *throttleRate, ThrottleBurst: *throttleBurst}
	if *versions != "" {
		for _, pair := range strings.Split(*versions, ",") {
			id, status, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || id == "" || status == "" {
				fmt.Fprintf(os.Stderr, "scp-fake-api: --versions: %q is not id=STATUS\n", pair)
				os.Exit(2)
			}
			opts.Versions = append(opts.Versions, scptest.Version{ID: id, Status: status})
		}
	}
	if *catalog != "" {
		data, err := os.ReadFile(*catalog)
		if err == nil {
			err = json.Unmarshal(data, &opts.Catalog)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "scp-fake-api: --catalog:", err)
			os.Exit(2)
		}
	}
	fake := scptest.New(opts)
	f, err := os.Open(*fixtures)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scp-fake-api:", err)
		os.Exit(1)
	}
	err = fake.Load(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scp-fake-api:", err)
		os.Exit(1)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scp-fake-api:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "scp-fake-api: serving on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "scp-fake-api:", err)
		os.Exit(1)
	}
}
