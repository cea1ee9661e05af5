// Command scp-fake-api serves the fake SCP Virtual Server API of package
// scptest on a local address, with fixtures from a JSON file. It is what
// `make demo` points the exporter at; it is not for production.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

func main() {
	app := kingpin.New("scp-fake-api", "A fake SCP Virtual Server API that verifies request signatures, for demos and tests.")
	listen := app.Flag("listen", "Address to listen on (loopback only is wise).").Default("127.0.0.1:9858").String()
	fixtures := app.Flag("fixtures", "JSON file of images and their members.").Required().ExistingFile()
	accessKey := app.Flag("access-key", "Access key requests must carry.").Default("demo-access-key").String()
	secretKey := app.Flag("secret-key", "Secret key requests must be signed with (a demo value, not a real key).").Default("demo-secret-key").String()
	latency := app.Flag("latency", "Latency added to every answer.").Default("0s").Duration()
	throttleRate := app.Flag("throttle-rate", "Calls a second served before answering 429 with Retry-After, as an API gateway would (0: never).").Default("0").Float64()
	throttleBurst := app.Flag("throttle-burst", "Calls that may come at once within --throttle-rate.").Default(strconv.Itoa(scptest.DefaultThrottleBurst)).Int()
	kingpin.MustParse(app.Parse(os.Args[1:]))
	if *throttleRate < 0 || *throttleBurst < 1 {
		fmt.Fprintln(os.Stderr, "scp-fake-api: --throttle-rate must not be negative and --throttle-burst must be at least 1")
		os.Exit(2)
	}

	fake := scptest.New(scptest.Options{AccessKey: *accessKey, SecretKey: *secretKey, Latency: *latency,
		ThrottleRate: *throttleRate, ThrottleBurst: *throttleBurst})
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
