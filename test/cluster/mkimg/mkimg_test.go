package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const testBinary = "rolltest mkimg test binary\n"

// writeFile writes data to a new file in dir and returns its path.
func writeFile(t *testing.T, dir, name, data string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

// agentOptions is what `make image` asks for, on test files.
func agentOptions(t *testing.T, dir string) options {
	return options{
		bin:    writeFile(t, dir, "bin", testBinary, 0o600),
		entry:  "/rolltest",
		tag:    "rolltest.local/rolltest:test",
		out:    filepath.Join(dir, "image.tar"),
		user:   "65532:65532",
		arch:   "amd64",
		env:    []string{"ROLLTEST_IN_IMAGE=1"},
		passwd: true,
		files: []fileSpec{
			{src: writeFile(t, dir, "ca.crt", "-----BEGIN CERTIFICATE-----\ntest\n", 0o644), dst: "/etc/ssl/certs/ca-certificates.crt"},
		},
	}
}

type layerEntry struct {
	hdr  *tar.Header
	data string
}

// readImage loads a written tarball back the way a runtime would: the
// config, and the single layer's entries in order.
func readImage(t *testing.T, out string) (v1.Image, *v1.ConfigFile, []layerEntry) {
	t.Helper()
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatalf("read %s: %v", out, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want exactly one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var entries []layerEntry
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("layer tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, layerEntry{hdr: h, data: string(b)})
	}
	return img, cf, entries
}

func TestAgentImage(t *testing.T) {
	dir := t.TempDir()
	o := agentOptions(t, dir)
	sum, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	img, cf, entries := readImage(t, o.out)
	if d, _ := img.Digest(); d != sum.digest {
		t.Errorf("reported digest %s, image read back has %s", sum.digest, d)
	}
	// What an importer or a registry checks: every digest, diff_id and size
	// in the manifest and config matches the blobs.
	if err := validate.Image(img); err != nil {
		t.Errorf("image does not validate: %v", err)
	}

	c := cf.Config
	if c.User != "65532:65532" || !reflect.DeepEqual(c.Entrypoint, []string{"/rolltest"}) || len(c.Cmd) != 0 ||
		!reflect.DeepEqual(c.Env, []string{"PATH=/", "ROLLTEST_IN_IMAGE=1"}) {
		t.Errorf("config User %q Entrypoint %q Cmd %q Env %q; want 65532:65532, [/rolltest], none, [PATH=/ ROLLTEST_IN_IMAGE=1]",
			c.User, c.Entrypoint, c.Cmd, c.Env)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s; want linux/amd64", cf.OS, cf.Architecture)
	}

	byName := map[string]layerEntry{}
	for _, e := range entries {
		if _, dup := byName[e.hdr.Name]; dup {
			t.Errorf("layer has %s twice", e.hdr.Name)
		}
		// A runtime would create a missing parent with its own mode; each
		// one must be in the layer, before its children.
		if parent := path.Dir(strings.TrimSuffix(e.hdr.Name, "/")); parent != "." {
			if _, ok := byName[parent+"/"]; !ok {
				t.Errorf("%s comes before (or without) its directory %s/", e.hdr.Name, parent)
			}
		}
		if !e.hdr.ModTime.Equal(epoch) {
			t.Errorf("%s mtime %v; want the epoch", e.hdr.Name, e.hdr.ModTime)
		}
		byName[e.hdr.Name] = e
	}
	for _, w := range []struct {
		name     string
		typ      byte
		mode     int64
		uid      int
		contains string
	}{
		{name: "rolltest", typ: tar.TypeReg, mode: 0o755, contains: testBinary},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, contains: "\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
		{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, contains: "root:x:0:0:root:/root:"},
		{name: "etc/group", typ: tar.TypeReg, mode: 0o644, contains: "\nnonroot:x:65532:\n"},
		{name: "home/nonroot/", typ: tar.TypeDir, mode: 0o700, uid: 65532},
		{name: "root/", typ: tar.TypeDir, mode: 0o700},
		{name: "etc/ssl/certs/ca-certificates.crt", typ: tar.TypeReg, mode: 0o644, contains: "-----BEGIN CERTIFICATE-----"},
	} {
		e, ok := byName[w.name]
		if !ok {
			t.Errorf("layer has no %s", w.name)
			continue
		}
		if e.hdr.Typeflag != w.typ || e.hdr.Mode != w.mode || e.hdr.Uid != w.uid || e.hdr.Gid != w.uid {
			t.Errorf("%s: type %c mode %#o owner %d:%d; want type %c mode %#o owner %d:%d",
				w.name, e.hdr.Typeflag, e.hdr.Mode, e.hdr.Uid, e.hdr.Gid, w.typ, w.mode, w.uid, w.uid)
		}
		if !strings.Contains(e.data, w.contains) {
			t.Errorf("%s holds %q; want it to contain %q", w.name, e.data, w.contains)
		}
	}
	if len(entries) != 11 { // the 9 above (passwd twice) + etc/ssl/, etc/ssl/certs/, home/
		var names []string
		for _, e := range entries {
			names = append(names, e.hdr.Name)
		}
		t.Errorf("layer holds %d entries %q; want 11: nothing but the binary, the user database, the CA bundle and their directories", len(entries), names)
	}
	// No shell, nothing else to run: the only executable is the binary.
	for _, e := range entries {
		if e.hdr.Typeflag == tar.TypeReg && e.hdr.Mode&0o111 != 0 && e.hdr.Name != "rolltest" {
			t.Errorf("%s is executable; only the binary should be", e.hdr.Name)
		}
	}

	tags := manifestTags(t, o.out)
	if !reflect.DeepEqual(tags, []string{o.tag}) {
		t.Errorf("manifest.json RepoTags %q; want [%s]", tags, o.tag)
	}
}

// manifestTags reads the docker-archive manifest.json that `ctr images
// import` and `docker load` go by.
func manifestTags(t *testing.T, out string) []string {
	t.Helper()
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json in %s: %v", out, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&m); err != nil {
			t.Fatalf("manifest.json: %v", err)
		}
		if len(m) != 1 {
			t.Fatalf("manifest.json has %d images; want 1", len(m))
		}
		return m[0].RepoTags
	}
}

// TestDeterministic: the same inputs give the same image, byte for byte,
// whatever the order of the -file flags; a different input gives another.
func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	base := agentOptions(t, dir)
	base.files = append(base.files, fileSpec{src: writeFile(t, dir, "extra", "x\n", 0o644), dst: "/etc/extra"})
	build1 := func(name string, change func(*options)) (v1.Hash, []byte) {
		t.Helper()
		o := base
		o.files = append([]fileSpec(nil), base.files...)
		o.out = filepath.Join(dir, name+".tar")
		change(&o)
		sum, err := build(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := os.ReadFile(o.out)
		if err != nil {
			t.Fatal(err)
		}
		return sum.digest, b
	}
	first, firstBytes := build1("first", func(*options) {})
	for _, tc := range []struct {
		name   string
		change func(*options)
		same   bool
	}{
		{name: "again", change: func(*options) {}, same: true},
		{name: "files in another order", change: func(o *options) { o.files[0], o.files[1] = o.files[1], o.files[0] }, same: true},
		{name: "another binary", change: func(o *options) { o.bin = writeFile(t, dir, "bin2", testBinary+"!", 0o755) }},
		{name: "another user", change: func(o *options) { o.user = "65532" }},
		{name: "no passwd", change: func(o *options) { o.passwd = false }},
		{name: "arm64", change: func(o *options) { o.arch = "arm64" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, b := build1(strings.ReplaceAll(tc.name, " ", "-"), tc.change)
			if same := d == first; same != tc.same {
				t.Errorf("digest %s, first build %s; same = %v, want %v", d, first, same, tc.same)
			}
			if tc.same && string(b) != string(firstBytes) {
				t.Errorf("same digest, but the tarballs differ")
			}
		})
	}
}

// TestClusterImagesUnchanged: without the new flags, the pause and testapp
// images of the test cluster are what mkimg made before -passwd and -file
// existed. The config digests (which hold the uncompressed layer's diff_id)
// were taken from that version on the same input.
func TestClusterImagesUnchanged(t *testing.T) {
	dir := t.TempDir()
	bin := writeFile(t, dir, "bin", testBinary, 0o755)
	for _, tc := range []struct {
		name string
		o    options
		want string
	}{
		{name: "testapp", o: options{entry: "/app", tag: "rolltest.local/test:1", user: "65532", env: []string{"APP_VERSION=v1"}},
			want: "sha256:2ee8a114a59983d3dd9a3732490e43ff2c83eb7e4816e3596aaf308f954dba27"},
		{name: "pause", o: options{entry: "/pause", tag: "rolltest.local/pause:1"},
			want: "sha256:45032a0fadbc9df0cad94321432a2c498655d39dab1f56acef0861653286a402"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.bin, o.arch, o.out = bin, "amd64", filepath.Join(dir, tc.name+".tar")
			if _, err := build(o); err != nil {
				t.Fatal(err)
			}
			img, err := tarball.ImageFromPath(o.out, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := img.ConfigName()
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Errorf("config digest %s; want %s", got, tc.want)
			}
		})
	}
}

func TestBuildRefuses(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-ca.crt")
	other := writeFile(t, dir, "other", "x", 0o644)
	for _, tc := range []struct {
		name   string
		change func(*options)
		want   string
	}{
		{name: "missing source", change: func(o *options) { o.files = []fileSpec{{src: missing, dst: "/etc/ssl/certs/ca-certificates.crt"}} },
			want: missing + " does not exist on this machine"},
		{name: "source is a directory", change: func(o *options) { o.files = []fileSpec{{src: dir, dst: "/x"}} },
			want: "is not a regular file"},
		{name: "file over the user database", change: func(o *options) { o.files = []fileSpec{{src: other, dst: "/etc/passwd"}} },
			want: "two files at /etc/passwd"},
		{name: "file over /tmp", change: func(o *options) { o.files = []fileSpec{{src: other, dst: "/tmp"}} },
			want: "/tmp is both a file and a directory"},
		{name: "file inside the binary", change: func(o *options) { o.files = []fileSpec{{src: other, dst: "/rolltest/x"}} },
			want: "/rolltest is a file, but /rolltest/x is inside it"},
		{name: "unknown arch", change: func(o *options) { o.arch = "s390x" }, want: `-arch "s390x"`},
		{name: "entry is the root", change: func(o *options) { o.entry = "/" }, want: `-entry "/"`},
		{name: "missing binary", change: func(o *options) { o.bin = missing }, want: "read binary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := agentOptions(t, t.TempDir())
			tc.change(&o)
			_, err := build(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one containing %q", err, tc.want)
			}
			if _, statErr := os.Stat(o.out); statErr == nil {
				t.Errorf("%s written despite the error", o.out)
			}
		})
	}
}

func TestFileFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want fileSpec
		err  bool
	}{
		{in: "/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt",
			want: fileSpec{src: "/etc/ssl/certs/ca-certificates.crt", dst: "/etc/ssl/certs/ca-certificates.crt"}},
		{in: "rel/a:b:/x//y/", want: fileSpec{src: "rel/a:b", dst: "/x/y"}},
		{in: "a", err: true},
		{in: ":/x", err: true},
		{in: "a:", err: true},
		{in: "a:x", err: true},
		{in: "a:/", err: true},
		{in: "a:/..", err: true},
	} {
		var f fileFlag
		err := f.Set(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("Set(%q): error %v; want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && (len(f) != 1 || f[0] != tc.want) {
			t.Errorf("Set(%q) = %+v; want %+v", tc.in, f, tc.want)
		}
	}
}
