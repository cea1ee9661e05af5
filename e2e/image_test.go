package e2e

// The container image, built by `make docker` with buildah (no Docker
// engine: vfs storage, no RUN step) into a storage of the test's own, then
// inspected, and its amd64 (the host's) root filesystem mounted and its
// entrypoint and command started in it against the fake API.

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// buildah runs buildah with the global flags of the test's storage and
// returns its standard output.
type buildah struct {
	t     *testing.T
	flags []string // buildah and its global flags
}

func (b buildah) run(args ...string) string {
	b.t.Helper()
	cmd := exec.CommandContext(b.t.Context(), b.flags[0], append(slices.Clone(b.flags[1:]), args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.t.Fatalf("%s %s: %v\n%s", strings.Join(b.flags, " "), strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// imageConfig is the part of the OCI image configuration the test checks.
type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User         string              `json:"User"`
		Env          []string            `json:"Env"`
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Volumes      map[string]struct{} `json:"Volumes"`
		Labels       map[string]string   `json:"Labels"`
	} `json:"config"`
}

// TestImage builds the image with `make docker` and checks it: a manifest
// list of linux/amd64 and linux/arm64, each image with the binary of its
// platform, a non-root user that owns /data, the entrypoint, command,
// exposed port and labels; make docker-push pushes the list and both images
// (into an OCI layout, not a registry); then it starts the entrypoint and command, as
// that user and chrooted into the host platform's image, against the fake
// API on loopback and scrapes it. Needs buildah and root (chroot, and
// buildah's vfs storage with the image's owners); about 15 s with a warm
// build cache.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: make docker cross-compiles two binaries and builds an image")
	}
	requireTool(t, "make", "apt-get install -y make")
	bin := requireTool(t, "buildah", "apt-get install -y buildah")
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root: buildah's vfs storage keeps the image's owners, and the image's binary is started chrooted into its root filesystem")
	}
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("the image is for linux/amd64 and linux/arm64, not this %s/%s", runtime.GOOS, runtime.GOARCH)
	}

	// A storage of the test's own: nothing shared with other builds, all
	// of it removed afterwards.
	store := t.TempDir()
	b := buildah{t: t, flags: []string{bin, "--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"}}
	t.Cleanup(func() {
		// Containers first (their mounts), then the images.
		for _, args := range [][]string{{"rm", "--all"}, {"rmi", "--all", "--force"}} {
			if out, err := exec.Command(b.flags[0], append(slices.Clone(b.flags[1:]), args...)...).CombinedOutput(); err != nil {
				t.Logf("buildah %s: %v\n%s", args[0], err, out)
			}
		}
	})

	const (
		version  = "9.8.7-image"
		revision = "imagerev0123"
		source   = "https://example.invalid/scp_exporter"
		epoch    = 1700000000 // 2023-11-14T22:13:20Z
		created  = "2023-11-14T22:13:20Z"
	)
	image := "scp_exporter:" + version
	start := time.Now()
	// The binaries and the build context in the test's directory: its
	// fake version and root-owned files stay out of the repository's
	// .build/.
	mk := exec.CommandContext(t.Context(), "make", "-C", "..", "docker", "CROSSBUILD_DIR="+filepath.Join(store, "build"),
		"BUILDAH="+strings.Join(b.flags, " "), "VERSION="+version, "REVISION="+revision, "BRANCH=imagebranch",
		"DOCKER_SOURCE="+source, "SOURCE_DATE_EPOCH="+strconv.Itoa(epoch))
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make docker: %v\n%s", err, out)
	}
	t.Logf("make docker took %v", time.Since(start).Round(100*time.Millisecond))

	// The manifest list: one image for each platform.
	var list struct {
		Manifests []struct {
			Digest   string `json:"digest"`
			Platform struct {
				Architecture string `json:"architecture"`
				OS           string `json:"os"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(b.run("manifest", "inspect", image)), &list); err != nil {
		t.Fatalf("buildah manifest inspect: %v", err)
	}
	digests := map[string]string{}
	for _, m := range list.Manifests {
		digests[m.Platform.OS+"/"+m.Platform.Architecture] = m.Digest
	}
	if len(list.Manifests) != 2 || digests["linux/amd64"] == "" || digests["linux/arm64"] == "" {
		t.Fatalf("manifest list of %s: %+v, want linux/amd64 and linux/arm64 once each", image, list.Manifests)
	}

	// make docker-push pushes the list with both images: here into an
	// OCI layout, the registry's format on disk.
	layout := filepath.Join(store, "layout")
	push := exec.CommandContext(t.Context(), "make", "-C", "..", "docker-push",
		"BUILDAH="+strings.Join(b.flags, " "), "VERSION="+version, "DOCKER_PUSH_TRANSPORT=oci:", "DOCKER_REPOSITORY="+layout)
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("make docker-push: %v\n%s", err, out)
	}
	// A pre-release (the version has a "-"): its own tag, not latest.
	checkPushedLayout(t, layout, map[string]string{version: ""}, digests)

	var rootfsHost string
	var cfgHost imageConfig
	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		arch := strings.TrimPrefix(platform, "linux/")
		ref := "localhost/scp_exporter@" + digests[platform]
		var inspected struct {
			OCIv1 imageConfig `json:"OCIv1"`
		}
		if err := json.Unmarshal([]byte(b.run("inspect", "--type", "image", ref)), &inspected); err != nil {
			t.Fatalf("buildah inspect %s: %v", ref, err)
		}
		cfg := inspected.OCIv1
		uid, gid := checkImageConfig(t, platform, cfg, map[string]string{
			"title":       "scp_exporter",
			"description": "Prometheus exporter: who each Samsung Cloud Platform VM image is shared with",
			"licenses":    "Apache-2.0",
			"version":     version,
			"revision":    revision,
			"created":     created,
			"source":      source,
		})

		// Its root filesystem: the binary of its platform, the user
		// named in /etc/passwd, /data its, the CA bundle.
		ctr := b.run("from", "--pull=never", ref)
		root := b.run("mount", ctr)
		exe, err := os.ReadFile(filepath.Join(root, cfg.Config.Entrypoint[0]))
		if err != nil {
			t.Fatalf("%s: the entrypoint: %v", platform, err)
		}
		checkBinaryPlatform(t, platform+" image's binary", exe, "linux", arch)
		passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
		if err != nil || !regexp.MustCompile(`(?m)^[a-z]+:x:`+strconv.Itoa(uid)+`:`+strconv.Itoa(gid)+`:`).Match(passwd) {
			t.Errorf("%s: /etc/passwd does not name user %d:%d (%v):\n%s", platform, uid, gid, err, passwd)
		}
		if fi, err := os.Stat(filepath.Join(root, "data")); err != nil || !fi.IsDir() || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) || fi.Mode().Perm()&0o700 != 0o700 {
			t.Errorf("%s: /data is not a directory its user %d may write: %v %v", platform, uid, fi, err)
		}
		if ca, err := os.ReadFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt")); err != nil || !strings.Contains(string(ca), "BEGIN CERTIFICATE") {
			t.Errorf("%s: no CA bundle at /etc/ssl/certs/ca-certificates.crt: %v", platform, err)
		}
		if platform == runtime.GOOS+"/"+runtime.GOARCH {
			rootfsHost, cfgHost = root, cfg
		}
	}

	// The host's image: --version, then its entrypoint and command as its
	// user, chrooted into its root filesystem, with the config file where
	// the command expects it and a listen address on loopback added.
	v, err := exec.CommandContext(t.Context(), filepath.Join(rootfsHost, cfgHost.Config.Entrypoint[0]), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, v)
	}
	if want := fmt.Sprintf("scp_exporter, version %s (branch: imagebranch, revision: %s)", version, revision); !strings.Contains(string(v), want) {
		t.Errorf("--version of the image's binary lacks %q:\n%s", want, v)
	}

	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA, scptest.Member{MemberID: memberOK, Status: "accepted"}, scptest.Member{MemberID: memberOdd, Status: "pending"})
	fake.SetMembers(imageB, scptest.Member{MemberID: memberGone, Status: "rejected"})
	cfgFile := filepath.Join(rootfsHost, "etc/scp_exporter/config.yml")
	if err := os.MkdirAll(filepath.Dir(cfgFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, []byte(configYAML(url, map[string][]string{imageA: {memberOK}, imageB: nil}, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	uid, gid := parseUser(t, cfgHost.Config.User)
	addr := freeAddr(t)
	args := append(slices.Clone(cfgHost.Config.Cmd), "--web.listen-address="+addr)
	cmd := exec.Command(cfgHost.Config.Entrypoint[0], args...)
	cmd.Env = cfgHost.Config.Env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfsHost, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	proc := testproc.Start(t, "the image's exporter", cmd, 5*time.Second)
	base := "http://" + addr
	proc.WaitUntil(t, 15*time.Second, func() bool {
		resp, err := http.Get(base + "/-/healthy")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	status, body := httpGet(t, base+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics answered %d:\n%s", status, body)
	}
	for _, want := range []string{
		`scp_image_member_info{expected="true",image_id="` + imageA + `",member_id="` + memberOK + `",status="accepted"} 1`,
		`scp_image_member_info{expected="false",image_id="` + imageA + `",member_id="` + memberOdd + `",status="pending"} 1`,
		`scp_image_member_info{expected="false",image_id="` + imageB + `",member_id="` + memberGone + `",status="rejected"} 1`,
		`scp_image_members_scrape_success{image_id="` + imageB + `"} 1`,
		`scp_exporter_build_info{branch="imagebranch",`,
		`scp_exporter_config_last_reload_successful 1`,
	} {
		if !hasLine(body, want) {
			t.Errorf("/metrics of the image's exporter lacks %s", want)
		}
	}
	if !strings.Contains(body, `revision="`+revision+`"`) || !strings.Contains(body, `version="`+version+`"`) {
		t.Errorf("scp_exporter_build_info lacks version %s and revision %s", version, revision)
	}

	// On a graceful stop it writes its state into /data, as its user.
	if err := proc.Cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if st := proc.Exited(10 * time.Second); st == nil || !st.Success() {
		t.Fatalf("the image's exporter did not stop cleanly on SIGINT: %v\n%s", st, proc.Output.String())
	}
	state, err := os.Stat(filepath.Join(rootfsHost, "data", "account-default.json.gz"))
	if err != nil {
		t.Fatalf("no state written into /data: %v\n%s", err, proc.Output.String())
	}
	if owner := state.Sys().(*syscall.Stat_t).Uid; owner != uint32(uid) {
		t.Errorf("/data's state is owned by %d, want the image's user %d", owner, uid)
	}
}

// checkImageConfig checks one platform's image configuration and returns
// its user's uid and gid.
func checkImageConfig(t *testing.T, platform string, cfg imageConfig, labels map[string]string) (uid, gid int) {
	t.Helper()
	if got := cfg.OS + "/" + cfg.Architecture; got != platform {
		t.Errorf("%s: the image says it is for %s", platform, got)
	}
	uid, gid = parseUser(t, cfg.Config.User)
	if uid == 0 || gid == 0 {
		t.Errorf("%s: USER %q: want a non-root uid and gid", platform, cfg.Config.User)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/bin/scp_exporter"}) {
		t.Errorf("%s: entrypoint %q, want [/bin/scp_exporter]", platform, cfg.Config.Entrypoint)
	}
	if !slices.Equal(cfg.Config.Cmd, []string{"--config.file=/etc/scp_exporter/config.yml", "--storage.path=/data"}) {
		t.Errorf("%s: cmd %q, want [--config.file=/etc/scp_exporter/config.yml --storage.path=/data]", platform, cfg.Config.Cmd)
	}
	if _, ok := cfg.Config.ExposedPorts["9857/tcp"]; !ok || len(cfg.Config.ExposedPorts) != 1 {
		t.Errorf("%s: exposed ports %v, want 9857/tcp", platform, cfg.Config.ExposedPorts)
	}
	if _, ok := cfg.Config.Volumes["/data"]; !ok {
		t.Errorf("%s: volumes %v, want /data", platform, cfg.Config.Volumes)
	}
	for k, want := range labels {
		if got := cfg.Config.Labels["org.opencontainers.image."+k]; got != want {
			t.Errorf("%s: label org.opencontainers.image.%s = %q, want %q", platform, k, got, want)
		}
	}
	return uid, gid
}

// parseUser parses a numeric uid:gid; a name (root, nonroot) fails the test:
// Kubernetes' runAsNonRoot can only verify a numeric user.
func parseUser(t *testing.T, user string) (uid, gid int) {
	t.Helper()
	u, g, _ := strings.Cut(user, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if err1 != nil || err2 != nil {
		t.Fatalf("USER %q: want numeric uid:gid", user)
	}
	return uid, gid
}

// checkPushedLayout checks that the OCI layout at dir holds, as each of
// tags and no other tag, an index of the images of digests (platform to
// digest).
func checkPushedLayout(t *testing.T, dir string, tags, digests map[string]string) {
	t.Helper()
	type descriptor struct {
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
		Platform    *struct {
			Architecture string `json:"architecture"`
			OS           string `json:"os"`
		} `json:"platform"`
	}
	type index struct {
		Manifests []descriptor `json:"manifests"`
	}
	read := func(name string) index {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("the pushed layout: %v", err)
		}
		var ix index
		if err := json.Unmarshal(raw, &ix); err != nil {
			t.Fatalf("the pushed layout's %s: %v", name, err)
		}
		return ix
	}
	for _, d := range read("index.json").Manifests {
		tag := d.Annotations["org.opencontainers.image.ref.name"]
		if _, ok := tags[tag]; !ok {
			t.Errorf("make docker-push pushed the tag %s, want only %v", tag, slices.Sorted(maps.Keys(tags)))
			continue
		}
		algo, hex, _ := strings.Cut(d.Digest, ":")
		got := map[string]string{}
		for _, m := range read(filepath.Join("blobs", algo, hex)).Manifests {
			if m.Platform != nil {
				got[m.Platform.OS+"/"+m.Platform.Architecture] = m.Digest
			}
			// The image itself, not only the list naming it.
			a, h, _ := strings.Cut(m.Digest, ":")
			if _, err := os.Stat(filepath.Join(dir, "blobs", a, h)); err != nil {
				t.Errorf("pushed %s: its image %s is missing: %v", tag, m.Digest, err)
			}
		}
		// The digests change: a push compresses the layers.
		if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(digests))) {
			t.Errorf("pushed %s: images for %v, want %v", tag, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(digests)))
		}
		tags[tag] = d.Digest
	}
	for tag, d := range tags {
		if d == "" {
			t.Errorf("make docker-push did not push the tag %s", tag)
		}
	}
}
