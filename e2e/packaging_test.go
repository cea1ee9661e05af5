package e2e

// What is shipped besides the binary: release archives, the Dockerfile, the
// Prometheus example, the runbook links of the alerts, the dashboard's
// variables, LICENSE and CHANGELOG. The Helm chart and the kustomize example
// are tested in charts/test (make test-chart), a module of its own.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
)

// repoVersion is the VERSION file.
func repoVersion(t *testing.T) string {
	t.Helper()
	v, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}

// TestMakeReleaseBuildsChecksummedArchives runs `make release` into a
// temporary directory and checks each archive: its name, its one
// top-level directory with the static binary for its platform and the
// files of releaseDocs, each as in the repository; the SBOM beside it;
// sha256sums.txt; and that the linux/amd64 binary reports the VERSION. Cross-compiling four platforms
// takes a few minutes the first time (the standard library for each), some
// seconds with a warm build cache; -short skips it.
func TestMakeReleaseBuildsChecksummedArchives(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: make release cross-compiles four binaries")
	}
	requireTool(t, "make", "apt-get install -y make")
	requireTool(t, "sha256sum", "apt-get install -y coreutils")
	version := repoVersion(t)
	dir := t.TempDir()
	// The binaries in a directory of the test's own, not the working tree's .build/.
	cmd := exec.CommandContext(t.Context(), "make", "-C", "..", "release", "RELEASE_DIR="+dir, "CROSSBUILD_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}

	platforms := [][2]string{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}
	var want, sboms []string
	for _, p := range platforms {
		want = append(want, fmt.Sprintf("scp_exporter-%s.%s-%s.tar.gz", version, p[0], p[1]))
		sboms = append(sboms, fmt.Sprintf("scp_exporter-%s.%s-%s.cdx.json", version, p[0], p[1]))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if wantAll := append(slices.Concat(want, sboms), "sha256sums.txt"); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(wantAll))) {
		t.Fatalf("%s holds %v, want %v", dir, got, wantAll)
	}

	// sha256sums.txt: one line per archive, in sha256sum's format, right.
	sums, err := os.ReadFile(filepath.Join(dir, "sha256sums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for line := range strings.Lines(string(sums)) {
		sum, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("sha256sums.txt line %q", line)
		}
		listed[name] = sum
	}
	if len(listed) != len(want)+len(sboms) {
		t.Errorf("sha256sums.txt lists %d files, want %d:\n%s", len(listed), len(want)+len(sboms), sums)
	}
	check := exec.CommandContext(t.Context(), "sha256sum", "--check", "--strict", "sha256sums.txt")
	check.Dir = dir
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check: %v\n%s", err, out)
	}

	for i, p := range platforms {
		archive := filepath.Join(dir, want[i])
		raw, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(raw); listed[want[i]] != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: sha256 %x, sha256sums.txt says %s", want[i], sum, listed[want[i]])
		}
		top := strings.TrimSuffix(want[i], ".tar.gz")
		files := readTarGz(t, archive)
		checkReleaseDocs(t, want[i], top, files)
		checkSBOM(t, filepath.Join(dir, sboms[i]), version, p[0], p[1])
		bin := files[top+"/scp_exporter"]
		if bin.mode&0o111 == 0 {
			t.Errorf("%s: scp_exporter mode %o is not executable", want[i], bin.mode)
		}
		checkBinaryPlatform(t, want[i], bin.data, p[0], p[1])
		if p[0] == runtime.GOOS && p[1] == runtime.GOARCH {
			exe := filepath.Join(t.TempDir(), "scp_exporter")
			if err := os.WriteFile(exe, bin.data, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(t.Context(), exe, "--version").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "scp_exporter, version "+version+" ") {
				t.Errorf("%s --version: %v\n%s\nwant version %s", want[i], err, out, version)
			}
		}
	}
}

// releaseDocs are the files besides the binary that each release archive
// must carry, as they are in the repository: the alerting and recording
// rules, the dashboard and the systemd unit, so that an archive installs
// all of it.
var releaseDocs = []string{
	"LICENSE", "README.md", "CHANGELOG.md", "config.example.yml",
	"alerts/scp_exporter.rules.yml", "alerts/scp_exporter.rules.test.yml",
	"dashboards/scp-image-sharing.json",
	"examples/systemd/scp_exporter.service", "examples/systemd/README.md",
}

// checkReleaseDocs checks that an archive's files, all under top, are the
// binary, each of releaseDocs, and maybe more files from the repository
// (of the directories the Makefile ships), each equal to the repository's.
func checkReleaseDocs(t *testing.T, archive, top string, files map[string]tarFile) {
	t.Helper()
	if _, ok := files[top+"/scp_exporter"]; !ok {
		t.Errorf("%s has no %s/scp_exporter", archive, top)
	}
	for _, name := range releaseDocs {
		if _, ok := files[top+"/"+name]; !ok {
			t.Errorf("%s lacks %s/%s", archive, top, name)
		}
	}
	for name, f := range files {
		rel, ok := strings.CutPrefix(name, top+"/")
		if !ok {
			t.Errorf("%s: %s is outside %s/", archive, name, top)
			continue
		}
		if rel == "scp_exporter" {
			continue
		}
		content, err := os.ReadFile("../" + rel)
		if err != nil {
			t.Errorf("%s: %s is not a file of the repository: %v", archive, name, err)
			continue
		}
		if !bytes.Equal(f.data, content) {
			t.Errorf("%s: %s differs from the repository's", archive, name)
		}
		if f.mode != 0o644 {
			t.Errorf("%s: %s has mode %o, want 644", archive, name, f.mode)
		}
	}
}

// checkSBOM checks the CycloneDX SBOM beside an archive: it names the
// exporter's module at the release's version built for the platform, and
// its dependencies, among them client_golang at the version go.mod asks.
func checkSBOM(t *testing.T, name, version, goos, goarch string) {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Error(err)
		return
	}
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Timestamp string `json:"timestamp"`
			Component struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				PURL    string `json:"purl"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &bom); err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	c := bom.Metadata.Component
	if bom.BOMFormat != "CycloneDX" || c.Name != "github.com/scp-exporter/scp_exporter" || c.Version != "v"+version {
		t.Errorf("%s: format %q, component %s %s; want CycloneDX, github.com/scp-exporter/scp_exporter v%s", name, bom.BOMFormat, c.Name, c.Version, version)
	}
	if !strings.Contains(c.PURL, "goarch="+goarch) || !strings.Contains(c.PURL, "goos="+goos) {
		t.Errorf("%s: purl %s, want goos=%s and goarch=%s", name, c.PURL, goos, goarch)
	}
	if bom.Metadata.Timestamp != "" {
		t.Errorf("%s: timestamp %s: a release SBOM has none (it would differ between builds)", name, bom.Metadata.Timestamp)
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/prometheus/client_golang (v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require github.com/prometheus/client_golang")
	}
	if !slices.ContainsFunc(bom.Components, func(d struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}) bool {
		return d.Name == "github.com/prometheus/client_golang" && d.Version == string(m[1])
	}) {
		t.Errorf("%s does not list github.com/prometheus/client_golang %s among %d components", name, m[1], len(bom.Components))
	}
}

// TestMakeReleasePacksOnlyWhatItBuilt: in one make invocation with another
// goal before it (crossbuild with other platforms, as make docker release
// would), make release still builds each of RELEASE_PLATFORMS itself and
// never packs a binary left in the build directory by another build.
func TestMakeReleasePacksOnlyWhatItBuilt(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: make release cross-compiles")
	}
	requireTool(t, "make", "apt-get install -y make")
	requireTool(t, "sha256sum", "apt-get install -y coreutils")
	buildDir, releaseDir := t.TempDir(), t.TempDir()
	stale := filepath.Join(buildDir, "darwin-arm64", "scp_exporter")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("a binary of another commit\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const version = "9.8.7-stale"
	cmd := exec.CommandContext(t.Context(), "make", "-C", "..", "crossbuild", "release",
		"CROSSBUILD_DIR="+buildDir, "RELEASE_DIR="+releaseDir, "VERSION="+version,
		"CROSSBUILD_PLATFORMS=linux/amd64", "RELEASE_PLATFORMS=darwin/arm64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make crossbuild release: %v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(releaseDir, "scp_exporter-"+version+".darwin-arm64.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no binary in the darwin/arm64 archive: %v", err)
		}
		if path.Base(h.Name) == "scp_exporter" {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			checkBinaryPlatform(t, "the darwin/arm64 archive's binary", data, "darwin", "arm64")
			return
		}
	}
}

// TestMakeReleaseIsReproducible runs `make release` twice for this
// machine's platform, the second time with another umask and time zone
// and at least a second later, and wants identical sha256sums.txt; each
// archive entry has the commit's time and root's numeric owner, and the
// binary reports the commit's time as its build date.
func TestMakeReleaseIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: make release builds twice")
	}
	requireTool(t, "make", "apt-get install -y make")
	requireTool(t, "sha256sum", "apt-get install -y coreutils")
	git := requireTool(t, "git", "apt-get install -y git")
	version := repoVersion(t)
	platform := runtime.GOOS + "/" + runtime.GOARCH
	ct, err := exec.CommandContext(t.Context(), git, "-C", "..", "log", "-1", "--format=%ct").Output()
	if err != nil {
		t.Fatalf("git log: %v", err)
	}
	epoch, err := strconv.ParseInt(strings.TrimSpace(string(ct)), 10, 64)
	if err != nil {
		t.Fatalf("git log -1 --format=%%ct: %q: %v", ct, err)
	}
	commitTime := time.Unix(epoch, 0)

	var dirs [2]string
	var sums [2][]byte
	for i, env := range [][]string{{"TZ=UTC"}, {"TZ=Asia/Seoul"}} {
		dirs[i] = t.TempDir()
		script := fmt.Sprintf("umask %s && exec make -C .. release RELEASE_DIR=%s RELEASE_PLATFORMS=%s CROSSBUILD_DIR=%s", []string{"022", "077"}[i], dirs[i], platform, t.TempDir())
		cmd := exec.CommandContext(t.Context(), "sh", "-c", script)
		cmd.Env = append(os.Environ(), env...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		if sums[i], err = os.ReadFile(filepath.Join(dirs[i], "sha256sums.txt")); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// A build date from the clock would differ in the second run.
			testwait.ForWithin(t, 5*time.Second, func() bool {
				return time.Now().Truncate(time.Second).After(start.Truncate(time.Second))
			}, "a second to pass after the first release")
		}
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Errorf("two `make release` runs of one commit differ:\n%s\n%s", sums[0], sums[1])
	}
	if n := strings.Count(string(sums[0]), "\n"); n != 2 {
		t.Errorf("sha256sums.txt lists %d files, want the archive and its SBOM:\n%s", n, sums[0])
	}

	top := fmt.Sprintf("scp_exporter-%s.%s-%s", version, runtime.GOOS, runtime.GOARCH)
	archive := filepath.Join(dirs[1], top+".tar.gz")
	files := readTarGz(t, archive)
	checkReleaseDocs(t, top+".tar.gz", top, files)
	checkSBOM(t, filepath.Join(dirs[1], top+".cdx.json"), version, runtime.GOOS, runtime.GOARCH)
	for name, f := range files {
		if !f.modTime.Equal(commitTime) || f.uid != 0 || f.gid != 0 {
			t.Errorf("%s: %s has time %v, owner %d:%d; want the commit's time %v and 0:0", top, name, f.modTime.UTC(), f.uid, f.gid, commitTime.UTC())
		}
	}
	exe := filepath.Join(t.TempDir(), "scp_exporter")
	if err := os.WriteFile(exe, files[top+"/scp_exporter"].data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), exe, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	for _, want := range []string{
		`build user: +release\n`,
		`build date: +` + regexp.QuoteMeta(commitTime.UTC().Format("20060102-15:04:05")) + `\n`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("--version of the release binary does not match %s:\n%s", want, out)
		}
	}
}

type tarFile struct {
	data     []byte
	mode     int64
	modTime  time.Time
	uid, gid int
}

// readTarGz returns the regular files of a .tar.gz; a directory entry is
// allowed, anything else (a link, a device) fails the test.
func readTarGz(t *testing.T, name string) map[string]tarFile {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string]tarFile{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[path.Clean(h.Name)] = tarFile{data: data, mode: h.Mode, modTime: h.ModTime, uid: h.Uid, gid: h.Gid}
		default:
			t.Errorf("%s: %s is of tar type %c", name, h.Name, h.Typeflag)
		}
	}
}

// checkBinaryPlatform checks an executable's format and architecture, and
// that a Linux one is static (no program interpreter, no dynamic section),
// as the distroless static base and any Linux host need.
func checkBinaryPlatform(t *testing.T, what string, data []byte, goos, goarch string) {
	t.Helper()
	switch goos {
	case "linux":
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: not ELF: %v", what, err)
			return
		}
		machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
		if f.Machine != machine {
			t.Errorf("%s: machine %v, want %v", what, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s: dynamically linked (%v)", what, p.Type)
			}
		}
	case "darwin":
		f, err := macho.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: not Mach-O: %v", what, err)
			return
		}
		cpu := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]
		if f.Cpu != cpu {
			t.Errorf("%s: cpu %v, want %v", what, f.Cpu, cpu)
		}
	default:
		t.Fatalf("no check for %s", goos)
	}
}

// dockerInstruction is one instruction of a Dockerfile, continuation lines
// joined.
type dockerInstruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
}

func parseDockerfile(t *testing.T, name string) []dockerInstruction {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []dockerInstruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, dockerInstruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDockerfile checks the Dockerfile as written (TestImage builds it):
// one stage on the BASE argument, scratch by default, and no RUN step (a
// build per platform needs no emulation); the entrypoint does not fix
// --config.file (passing it again would fail: the flag cannot be
// repeated), CMD gives it; a numeric non-root user; every argument it
// declares is passed by make docker and the other way round; and the
// binary is the one make crossbuild writes where the COPY takes it from,
// built for its platform and reporting the version arguments.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "../Dockerfile")
	var froms, runs, copies []string
	var entrypoint, cmd, user string
	args := map[string]string{}
	for i, in := range ins {
		switch in.Cmd {
		case "FROM":
			froms = append(froms, in.Args)
		case "RUN":
			runs = append(runs, in.Args)
		case "COPY":
			copies = append(copies, in.Args)
		case "ENTRYPOINT":
			entrypoint = in.Args
		case "CMD":
			cmd = in.Args
		case "USER":
			user = in.Args
		case "ARG":
			k, v, _ := strings.Cut(in.Args, "=")
			args[k] = v
			if k == "BASE" && (i+1 >= len(ins) || ins[i+1].Cmd != "FROM") {
				t.Errorf("ARG BASE is not right before the FROM that uses it")
			}
		}
	}
	var ep, cm []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil {
		t.Errorf("ENTRYPOINT %s is not in exec form: %v", entrypoint, err)
	}
	if err := json.Unmarshal([]byte(cmd), &cm); err != nil {
		t.Errorf("CMD %s is not in exec form: %v", cmd, err)
	}
	if !slices.Equal(ep, []string{"/bin/scp_exporter"}) {
		t.Errorf("ENTRYPOINT %q, want [\"/bin/scp_exporter\"]", ep)
	}
	for _, a := range ep {
		if strings.Contains(a, "--config.file") {
			t.Errorf("ENTRYPOINT fixes --config.file: %q", ep)
		}
	}
	if !slices.Equal(cm, []string{"--config.file=/etc/scp_exporter/config.yml", "--storage.path=/data"}) {
		t.Errorf("CMD %q, want [\"--config.file=/etc/scp_exporter/config.yml\", \"--storage.path=/data\"]", cm)
	}
	if !slices.Equal(froms, []string{"${BASE}"}) || args["BASE"] != "scratch" {
		t.Errorf("stages %q, ARG BASE=%q: want one stage FROM ${BASE}, scratch by default", froms, args["BASE"])
	}
	if len(runs) > 0 {
		t.Errorf("RUN steps %q: a multi-platform build would need emulation", runs)
	}
	if uid, gid, _ := strings.Cut(user, ":"); !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(uid) || !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(gid) {
		t.Errorf("USER %q: want a numeric non-root uid:gid", user)
	}

	// make docker passes exactly the arguments the Dockerfile declares.
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	passed := map[string]bool{}
	for _, m := range regexp.MustCompile(`--build-arg ([A-Z_]+)=`).FindAllStringSubmatch(string(mk), -1) {
		passed[m[1]] = true
	}
	declared := map[string]bool{}
	for k := range args {
		declared[k] = true
	}
	if !maps.Equal(passed, declared) {
		t.Errorf("make docker passes --build-arg %v, the Dockerfile declares ARG %v", slices.Sorted(maps.Keys(passed)), slices.Sorted(maps.Keys(args)))
	}

	// The binary: make crossbuild's, staged by make docker-stage into the
	// build context for the platform in OS and ARCH; built into a
	// directory of the test's own, so that its fake version stays out of
	// .build/.
	const binCopy = "${OS}-${ARCH}/scp_exporter /bin/scp_exporter"
	if !slices.Contains(copies, binCopy) {
		t.Fatalf("COPY %q: want %s", copies, binCopy)
	}
	requireTool(t, "make", "apt-get install -y make")
	buildDir := t.TempDir()
	stage := filepath.Join(buildDir, "docker")
	run := exec.CommandContext(t.Context(), "make", "-C", "..", "docker-stage", "CROSSBUILD_DIR="+buildDir,
		"DOCKER_PLATFORMS=linux/amd64 linux/arm64",
		"VERSION=9.8.7-docker", "REVISION=dockerrev", "BRANCH=dockerbranch", "SOURCE_DATE_EPOCH=1767225600")
	if o, err := run.CombinedOutput(); err != nil {
		t.Fatalf("make docker-stage: %v\n%s", err, o)
	}
	checkDockerStage(t, stage, copies)
	for _, arch := range []string{"amd64", "arm64"} {
		out := filepath.Join(stage, strings.NewReplacer("${OS}", "linux", "${ARCH}", arch).Replace(strings.Fields(binCopy)[0]))
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		checkBinaryPlatform(t, "the Dockerfile's binary", data, "linux", arch)
		if runtime.GOOS != "linux" || arch != runtime.GOARCH {
			continue
		}
		v, err := exec.CommandContext(t.Context(), out, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("--version: %v\n%s", err, v)
		}
		for _, want := range []string{
			`scp_exporter, version 9\.8\.7-docker \(branch: dockerbranch, revision: dockerrev\)`,
			`build user: +release\n`, `build date: +20260101-00:00:00\n`,
		} {
			if !regexp.MustCompile(want).Match(v) {
				t.Errorf("--version of the Dockerfile's binary does not match %s:\n%s", want, v)
			}
		}
	}
}

// checkDockerStage: the build context make docker-stage wrote holds what
// the Dockerfile copies, for each platform of make docker, and nothing else
// (a small context is a fast build on vfs storage; nothing of the
// repository or of another build gets in).
func checkDockerStage(t *testing.T, stage string, copies []string) {
	t.Helper()
	var need []string
	for _, c := range copies {
		var srcs []string
		for _, f := range strings.Fields(c) {
			if !strings.HasPrefix(f, "--") {
				srcs = append(srcs, strings.TrimSuffix(f, "/"))
			}
		}
		for _, src := range srcs[:len(srcs)-1] {
			for _, arch := range []string{"amd64", "arm64"} {
				need = append(need, strings.NewReplacer("${OS}", "linux", "${ARCH}", arch).Replace(src))
			}
		}
	}
	slices.Sort(need)
	need = slices.Compact(need)
	// What the rootfs/ copied to / holds.
	need = append(need, "rootfs/etc/passwd", "rootfs/etc/group", "rootfs/etc/ssl/certs/ca-certificates.crt")
	for _, p := range need {
		if _, err := os.Stat(filepath.Join(stage, p)); err != nil {
			t.Errorf("the build context lacks %s, which the Dockerfile copies: %v", p, err)
		}
	}
	top := map[string]bool{}
	for _, p := range need {
		top[strings.Split(p, "/")[0]] = true
	}
	entries, err := os.ReadDir(stage)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !top[e.Name()] {
			t.Errorf("the build context holds %s, which the Dockerfile does not copy", e.Name())
		}
	}
}

// TestDockerPushTags: make docker-push pushes a release as its version and
// latest, a pre-release (a VERSION with "-", as Prometheus' Makefile tells
// them apart) as its version only, so that latest never moves to a release
// candidate. buildah is replaced by echo: what it would run is printed.
func TestDockerPushTags(t *testing.T) {
	requireTool(t, "make", "apt-get install -y make")
	for version, want := range map[string][]string{
		"1.2.3":      {"1.2.3", "latest"},
		"1.2.3-rc.1": {"1.2.3-rc.1"},
	} {
		out, err := exec.CommandContext(t.Context(), "make", "-s", "-C", "..", "docker-push", "BUILDAH=echo",
			"VERSION="+version, "DOCKER_REPOSITORY=example.invalid/scp_exporter").CombinedOutput()
		if err != nil {
			t.Fatalf("make docker-push VERSION=%s: %v\n%s", version, err, out)
		}
		var pushed []string
		for _, m := range regexp.MustCompile(`(?m)^manifest push --all scp_exporter:`+regexp.QuoteMeta(version)+` docker://example\.invalid/scp_exporter:(\S+)$`).FindAllStringSubmatch(string(out), -1) {
			pushed = append(pushed, m[1])
		}
		if !slices.Equal(pushed, want) {
			t.Errorf("make docker-push VERSION=%s pushes the tags %q, want %q:\n%s", version, pushed, want, out)
		}
	}
}

// TestDockerStageKeepsTheBinaries: make docker-stage deletes DOCKER_STAGE
// before it stages (rm -rf), so it refuses, before building anything, a
// DOCKER_STAGE that is empty, CROSSBUILD_DIR (the binaries), the working
// tree, or a parent of one of them; and make crossbuild refuses an empty
// CROSSBUILD_DIR. go is a script here that records what it would build.
func TestDockerStageKeepsTheBinaries(t *testing.T) {
	requireTool(t, "make", "apt-get install -y make")
	tmp := t.TempDir()
	crossbuild := filepath.Join(tmp, "build")
	if err := os.MkdirAll(filepath.Join(crossbuild, "linux-amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	binary := writeFile(t, filepath.Join(crossbuild, "linux-amd64"), "scp_exporter", "an earlier build\n")
	log := filepath.Join(tmp, "go.log")
	goBin := writeFile(t, tmp, "go", "#!/bin/sh\necho \"$*\" >> "+log+"\nexit 1\n")
	if err := os.Chmod(goBin, 0o755); err != nil {
		t.Fatal(err)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"", crossbuild, crossbuild + "/", tmp, ".", "..", repo} {
		out, err := exec.CommandContext(t.Context(), "make", "-s", "-C", "..", "docker-stage", "GO="+goBin,
			"CROSSBUILD_DIR="+crossbuild, "DOCKER_STAGE="+stage, "DOCKER_PLATFORMS=linux/amd64").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "DOCKER_STAGE") {
			t.Errorf("make docker-stage DOCKER_STAGE=%q: %v, want a refusal naming DOCKER_STAGE:\n%s", stage, err, out)
		}
	}
	out, err := exec.CommandContext(t.Context(), "make", "-s", "-C", "..", "crossbuild", "GO="+goBin,
		"CROSSBUILD_DIR=", "CROSSBUILD_PLATFORMS=linux/amd64").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "CROSSBUILD_DIR is empty") {
		t.Errorf("make crossbuild CROSSBUILD_DIR=: %v, want a refusal naming CROSSBUILD_DIR:\n%s", err, out)
	}
	if b, err := os.ReadFile(binary); err != nil || string(b) != "an earlier build\n" {
		t.Errorf("the binary in CROSSBUILD_DIR: %q, %v", b, err)
	}
	if b, err := os.ReadFile(log); err == nil {
		t.Errorf("go ran before the refusal:\n%s", b)
	}
}

// TestMakeRunsTheCrossbuildsOneAfterAnother: make -j2 docker-stage release
// runs the two goals' crossbuilds, which write the same
// CROSSBUILD_DIR/linux-amd64/scp_exporter, one after the other
// (.NOTPARALLEL). go is a script that logs each build's start and end a
// second apart; the rest of release is left to fail (no SBOM tool).
func TestMakeRunsTheCrossbuildsOneAfterAnother(t *testing.T) {
	requireTool(t, "make", "apt-get install -y make")
	tmp := t.TempDir()
	log := filepath.Join(tmp, "go.log")
	goBin := writeFile(t, tmp, "go", `#!/bin/sh
case "$1" in build) ;; *) exit 0;; esac
echo start >> `+log+`
sleep 1
prev=; for a; do [ "$prev" = -o ] && { mkdir -p "$(dirname "$a")"; : > "$a"; }; prev=$a; done
echo end >> `+log+`
`)
	if err := os.Chmod(goBin, 0o755); err != nil {
		t.Fatal(err)
	}
	ca := writeFile(t, tmp, "ca.crt", "not a certificate\n")
	out, _ := exec.CommandContext(t.Context(), "make", "-s", "-j2", "-C", "..", "docker-stage", "release", "GO="+goBin,
		"CROSSBUILD_DIR="+filepath.Join(tmp, "build"), "DOCKER_STAGE="+filepath.Join(tmp, "stage"),
		"RELEASE_DIR="+filepath.Join(tmp, "release"), "CYCLONEDX_GOMOD="+filepath.Join(tmp, "no-sbom-tool"),
		"DOCKER_CA_BUNDLE="+ca, "DOCKER_PLATFORMS=linux/amd64", "RELEASE_PLATFORMS=linux/amd64").CombinedOutput()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("go never ran: %v\n%s", err, out)
	}
	if got := strings.Fields(string(b)); !slices.Equal(got, []string{"start", "end", "start", "end"}) {
		t.Errorf("the builds of make -j2 docker-stage release: %q, want one after the other (start end start end)\n%s", got, out)
	}
}

// TestPrometheusExampleConfig: examples/prometheus.yml passes promtool as
// shipped, its rule file path resolving to alerts/ in the repository.
func TestPrometheusExampleConfig(t *testing.T) {
	promtool := requireTool(t, "promtool", "apt-get install -y prometheus")
	out, err := exec.CommandContext(t.Context(), promtool, "check", "config", "../examples/prometheus.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config examples/prometheus.yml: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "1 rule files found") || !strings.Contains(string(out), "scp_exporter.rules.yml") {
		t.Errorf("promtool did not load the rule file:\n%s", out)
	}
}

// TestAlertmanagerExampleConfig: examples/alertmanager.yml passes amtool as
// shipped, and routes each alert of the rules file by its labels: security
// findings to their own receiver, grouped by account and alert, the
// exporter's operations to theirs, and SCPExporterDown to both (the
// security alerts are blind while it fires).
func TestAlertmanagerExampleConfig(t *testing.T) {
	amtool := requireTool(t, "amtool", "apt-get install -y prometheus-alertmanager")
	const cfg = "../examples/alertmanager.yml"
	out, err := exec.CommandContext(t.Context(), amtool, "check-config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("amtool check-config %s: %v\n%s", cfg, err, out)
	}
	want := map[string]string{"security": "scp-security", "operations": "scp-operations"}
	for _, a := range alertRules(t) {
		receivers := want[a.Labels["category"]]
		if a.Alert == "SCPExporterDown" {
			receivers = "scp-security,scp-operations"
		}
		if receivers == "" {
			continue // TestEveryAlertHasACategory says why
		}
		args := []string{"config", "routes", "test", "--config.file=" + cfg, "--verify.receivers=" + receivers,
			"alertname=" + a.Alert, "account=prod"}
		for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
			args = append(args, k+"="+a.Labels[k])
		}
		if out, err := exec.CommandContext(t.Context(), amtool, args...).CombinedOutput(); err != nil {
			t.Errorf("%s (%v) is not routed to %s: %v\n%s", a.Alert, a.Labels, receivers, err, out)
		}
	}

	// One notification per account and kind of finding: the security
	// route groups by exactly account and alertname.
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var am struct {
		Route struct {
			Routes []struct {
				Matchers []string `yaml:"matchers"`
				Receiver string   `yaml:"receiver"`
				GroupBy  []string `yaml:"group_by"`
				Continue bool     `yaml:"continue"`
			} `yaml:"routes"`
		} `yaml:"route"`
	}
	if err := yaml.Unmarshal(raw, &am); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range am.Route.Routes {
		if slices.Equal(r.Matchers, []string{`category="security"`}) {
			found = true
			if got := slices.Sorted(slices.Values(r.GroupBy)); !slices.Equal(got, []string{"account", "alertname"}) {
				t.Errorf("the security route groups by %v, want [account alertname]", r.GroupBy)
			}
		}
	}
	if !found {
		t.Errorf(`%s has no route matching category="security"`, cfg)
	}
}

// alertRule is one alerting rule of the rules file.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// alertRules returns the alerting rules of the rules file, in order.
func alertRules(t *testing.T) []alertRule {
	t.Helper()
	raw, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	var alerts []alertRule
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, r)
			}
		}
	}
	if len(alerts) < 10 {
		t.Fatalf("%d alerts in %s; the test reads it wrong", len(alerts), rulesPath)
	}
	return alerts
}

// TestEveryAlertHasACategory: every alert says whose it is, with the
// category label examples/alertmanager.yml routes on: security for the
// findings about the images (the sharing alerts, all named SCPImage...),
// operations for the exporter's own health.
func TestEveryAlertHasACategory(t *testing.T) {
	for _, a := range alertRules(t) {
		want := "operations"
		if strings.HasPrefix(a.Alert, "SCPImage") && a.Alert != "SCPImageMembersScrapeFailing" {
			want = "security"
		}
		if got := a.Labels["category"]; got != want {
			t.Errorf("%s: category %q, want %q", a.Alert, got, want)
		}
		if sev := a.Labels["severity"]; sev != "critical" && sev != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", a.Alert, sev)
		}
	}
}

const runbookBase = "https://github.com/scp-exporter/scp_exporter/blob/main/docs/runbook.md#"

// TestEveryAlertHasARunbook: each alert's runbook_url points at its own
// section of docs/runbook.md, which says what it means, how to confirm it
// and what to do; the runbook has no section for an alert that is gone.
func TestEveryAlertHasARunbook(t *testing.T) {
	book, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{} // GitHub anchor of each "## " heading => its text
	var alerts []string
	for _, sec := range strings.Split("\n"+string(book), "\n## ")[1:] {
		heading, body, _ := strings.Cut(sec, "\n")
		sections[githubAnchor(heading)] = body
	}
	for _, r := range alertRules(t) {
		alerts = append(alerts, r.Alert)
		url := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, runbookBase)
		if !ok || anchor != strings.ToLower(r.Alert) {
			t.Errorf("%s: runbook_url %q, want %s%s", r.Alert, url, runbookBase, strings.ToLower(r.Alert))
			continue
		}
		body, ok := sections[anchor]
		if !ok {
			t.Errorf("%s: docs/runbook.md has no section #%s", r.Alert, anchor)
			continue
		}
		for _, part := range []string{"**What it means.**", "**How to confirm.**", "**What to do"} {
			if !strings.Contains(body, part) {
				t.Errorf("%s: its runbook section lacks %s", r.Alert, part)
			}
		}
	}
	for anchor := range sections {
		if strings.HasPrefix(anchor, "scp") && !slices.ContainsFunc(alerts, func(a string) bool { return strings.ToLower(a) == anchor }) {
			t.Errorf("docs/runbook.md has a section #%s for no alert", anchor)
		}
	}
}

// githubAnchor is the fragment GitHub gives a Markdown heading: lower
// case, punctuation dropped, spaces as hyphens.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// TestDashboardVariables: job, instance and account variables that every
// query uses; the image picker shows names and selects IDs; the dashboard
// is not editable (it is provisioned from this file). checkDashboard
// (prometheus_test.go) runs every query against a real Prometheus.
func TestDashboardVariables(t *testing.T) {
	d := loadDashboard(t)
	if d.Editable == nil || *d.Editable {
		t.Error(`the dashboard must have "editable": false`)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		var q string
		_ = json.Unmarshal(v.Query, &q) // a query object is not a string: q stays empty
		vars[v.Name] = q
		if v.Name != "datasource" && (v.Type != "query" || !v.Multi || !v.IncludeAll || v.AllValue != ".*") {
			t.Errorf("variable %s: type %s, multi %v, includeAll %v, allValue %q; want a query variable with several values and All as .*",
				v.Name, v.Type, v.Multi, v.IncludeAll, v.AllValue)
		}
		if v.Name == "image" {
			re, err := regexp.Compile(strings.Trim(v.Regex, "/"))
			if err != nil || re.SubexpIndex("value") < 0 || re.SubexpIndex("text") < 0 || !strings.HasPrefix(q, "query_result(") {
				t.Errorf("image variable: query %q regex %q: want query_result and a regex capturing value (image_id) and text (name)", q, v.Regex)
			}
		}
	}
	for _, name := range []string{"datasource", "job", "instance", "account", "image"} {
		if _, ok := vars[name]; !ok {
			t.Errorf("no %s variable", name)
		}
	}
	if !strings.Contains(vars["instance"], `job=~"$job"`) || !strings.Contains(vars["account"], `job=~"$job", instance=~"$instance"`) {
		t.Errorf("instance %q and account %q must follow the job (and instance) chosen", vars["instance"], vars["account"])
	}
	if !strings.Contains(vars["image"], `job=~"$job", instance=~"$instance", account=~"$account"`) {
		t.Errorf("image %q must follow job, instance and account", vars["image"])
	}

	// Every selector of a series the exporter serves has the job and
	// instance matchers (the recording rule's constant threshold has no such
	// labels); every query has the account matcher on at least one
	// selector: the exporter's own series (scrape duration, config) have no
	// account label and are joined with a series of the account instead.
	selector := regexp.MustCompile(`\b(scp_[a-z_]+|scp:[a-z_:]+|scrape_duration_seconds)\b(\{[^}]*\})?`)
	var walk func([]grafanaPanel)
	queries := 0
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			walk(p.Panels)
			for _, target := range p.Targets {
				queries++
				if !strings.Contains(target.Expr, `account=~"$account"`) {
					t.Errorf("panel %q query %s does not use $account: %s", p.Title, target.RefID, target.Expr)
				}
				for _, m := range selector.FindAllStringSubmatch(target.Expr, -1) {
					if m[1] == "scp:members_refresh_max_age_seconds" {
						continue
					}
					if !strings.Contains(m[2], `job=~"$job"`) || !strings.Contains(m[2], `instance=~"$instance"`) {
						t.Errorf("panel %q query %s: %s lacks the job and instance matchers", p.Title, target.RefID, m[0])
					}
				}
			}
		}
	}
	walk(d.Panels)
	if queries < 20 {
		t.Fatalf("%d queries; the test reads the dashboard wrong", queries)
	}
}

// TestLicenseAndChangelog: Apache-2.0 in full, and a changelog with its
// Unreleased section (or the current version's).
func TestLicenseAndChangelog(t *testing.T) {
	license, err := os.ReadFile("../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Apache License", "Version 2.0, January 2004", "END OF TERMS AND CONDITIONS", "Copyright 2026 The scp_exporter Authors"} {
		if !bytes.Contains(license, []byte(want)) {
			t.Errorf("LICENSE lacks %q", want)
		}
	}
	changelog, err := os.ReadFile("../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(changelog, []byte("\n## [Unreleased]")) && !bytes.Contains(changelog, []byte("\n## ["+repoVersion(t)+"]")) {
		t.Errorf("CHANGELOG.md has neither an [Unreleased] section nor one for %s", repoVersion(t))
	}
}
