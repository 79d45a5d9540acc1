// Command mkimg wraps one static binary into a single-layer linux/amd64
// image and writes it as a docker-archive tarball that `ctr images import`
// accepts. The test cluster has no registry, so images are made locally.
//
// It lives in its own module because go-containerregistry's requirements
// would otherwise raise shared dependencies (grpc, otel, x/*) of the
// Kubernetes build above the versions Kubernetes v1.34.4 was released with.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, ",") }

func (e *envFlag) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("env %q: want KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func main() {
	bin := flag.String("bin", "", "static binary to put into the image (required)")
	entry := flag.String("entry", "/app", "absolute path of the binary inside the image; also the entrypoint")
	tag := flag.String("tag", "", "image reference, e.g. rolltest.local/testapp:v1 (required)")
	out := flag.String("out", "", "output tarball (required)")
	user := flag.String("user", "", "user the container runs as, e.g. 65532")
	var env envFlag
	flag.Var(&env, "env", "KEY=VALUE baked into the image config; repeatable")
	flag.Parse()
	if *bin == "" || *tag == "" || *out == "" || !strings.HasPrefix(*entry, "/") {
		log.Fatal("mkimg: -bin, -tag, -out and an absolute -entry are required")
	}
	if err := build(*bin, *entry, *tag, *out, *user, env); err != nil {
		log.Fatalf("mkimg: %v", err)
	}
	fmt.Printf("mkimg: wrote %s (%s)\n", *out, *tag)
}

func build(bin, entry, tag, out, user string, env []string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("read binary: %w", err)
	}
	layerTar, err := layer(entry[1:], data)
	if err != nil {
		return fmt.Errorf("build layer: %w", err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config.Entrypoint = []string{entry}
	cf.Config.Env = append([]string{"PATH=/"}, env...)
	cf.Config.User = user
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return fmt.Errorf("set config: %w", err)
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("parse tag: %w", err)
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

// layer returns an uncompressed tar holding the binary and a world-writable
// /tmp, with fixed timestamps so that the same binary gives the same digest.
func layer(path string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	hdrs := []*tar.Header{
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: epoch},
		{Name: path, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data)), ModTime: epoch},
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar header %s: %w", h.Name, err)
		}
	}
	if _, err := tw.Write(data); err != nil {
		return nil, fmt.Errorf("tar body: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	return buf.Bytes(), nil
}
