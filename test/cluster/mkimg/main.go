// Command mkimg wraps one static binary into a single-layer linux image and
// writes it as a docker-archive tarball that `ctr images import` accepts and
// `crane push` or `skopeo copy docker-archive:` can send to a registry. The
// test cluster has no registry and the build machine no Docker, so images
// are made from files on this machine.
//
// With -passwd and -file it makes a distroless/static-like base: /etc/passwd
// and /etc/group with root and nonroot (65532), a CA bundle, /tmp; without
// them the layer is exactly what it always was (binary and /tmp), so the
// pause and testapp images of the test cluster keep their digests.
//
// It lives in its own module because go-containerregistry's requirements
// would otherwise raise shared dependencies (grpc, otel, x/*) of the
// Kubernetes build above the versions Kubernetes v1.34.4 was released with.
package main

import (
	"flag"
	"fmt"
	"log"
	"strings"
)

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "static binary to put into the image (required)")
	flag.StringVar(&o.entry, "entry", "/app", "absolute path of the binary inside the image; also the entrypoint")
	flag.StringVar(&o.tag, "tag", "", "image reference, e.g. rolltest.local/testapp:v1 (required)")
	flag.StringVar(&o.out, "out", "", "output tarball (required)")
	flag.StringVar(&o.user, "user", "", "user the container runs as, numeric so that runAsNonRoot can verify it, e.g. 65532 or 65532:65532")
	flag.StringVar(&o.arch, "arch", "amd64", "image architecture: "+strings.Join(archNames(), " or "))
	flag.BoolVar(&o.passwd, "passwd", false, "add /etc/passwd and /etc/group with root (0), nobody (65534) and nonroot (65532), and their home directories")
	flag.Var((*envFlag)(&o.env), "env", "KEY=VALUE baked into the image config; repeatable")
	flag.Var((*fileFlag)(&o.files), "file", "SRC:DST copies file SRC of this machine to absolute path DST in the image, keeping its permission bits; repeatable")
	flag.Parse()
	if flag.NArg() > 0 {
		log.Fatalf("mkimg: unexpected arguments %q", flag.Args())
	}
	if o.bin == "" || o.tag == "" || o.out == "" || !strings.HasPrefix(o.entry, "/") {
		log.Fatal("mkimg: -bin, -tag, -out and an absolute -entry are required")
	}
	sum, err := build(o)
	if err != nil {
		log.Fatalf("mkimg: %v", err)
	}
	fmt.Printf("mkimg: wrote %s (%s, %s, %d bytes)\n", o.out, o.tag, sum.digest, sum.size)
}
