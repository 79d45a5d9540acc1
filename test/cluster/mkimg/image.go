package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// options is one mkimg invocation.
type options struct {
	bin, entry, tag, out, user, arch string
	env                              []string
	files                            []fileSpec
	passwd                           bool
}

// summary is what was written: the manifest digest (what a registry will
// call the image once pushed) and the tarball's size.
type summary struct {
	digest v1.Hash
	size   int64
}

// variants holds the architectures mkimg knows, with the CPU variant the
// image config names for each (as the official images do).
func variants() map[string]string { return map[string]string{"amd64": "", "arm64": "v8"} }

func archNames() []string {
	var n []string
	for a := range variants() {
		n = append(n, a)
	}
	sort.Strings(n)
	return n
}

func build(o options) (summary, error) {
	variant, ok := variants()[o.arch]
	if !ok {
		return summary{}, fmt.Errorf("-arch %q: want one of %v", o.arch, archNames())
	}
	if path.Clean(o.entry) == "/" || !path.IsAbs(o.entry) {
		return summary{}, fmt.Errorf("-entry %q: want an absolute path of a file", o.entry)
	}
	data, err := os.ReadFile(o.bin)
	if err != nil {
		return summary{}, fmt.Errorf("read binary: %w", err)
	}
	t := newTree()
	if err := t.addDir("/tmp", 0o1777, 0, 0); err != nil {
		return summary{}, err
	}
	if err := t.addFile(o.entry, 0o755, 0, 0, data); err != nil {
		return summary{}, fmt.Errorf("binary: %w", err)
	}
	if o.passwd {
		if err := addPasswd(t); err != nil {
			return summary{}, fmt.Errorf("-passwd: %w", err)
		}
	}
	for _, f := range o.files {
		if err := addLocalFile(t, f); err != nil {
			return summary{}, err
		}
	}
	layerTar, err := t.tar()
	if err != nil {
		return summary{}, fmt.Errorf("build layer: %w", err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return summary{}, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return summary{}, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return summary{}, fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.Variant, cf.OS = o.arch, variant, "linux"
	cf.Config.Entrypoint = []string{o.entry}
	cf.Config.Env = append([]string{"PATH=/"}, o.env...)
	cf.Config.User = o.user
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return summary{}, fmt.Errorf("set config: %w", err)
	}
	ref, err := name.NewTag(o.tag)
	if err != nil {
		return summary{}, fmt.Errorf("parse tag: %w", err)
	}
	if err := writeAtomically(o.out, ref, img); err != nil {
		return summary{}, fmt.Errorf("write %s: %w", o.out, err)
	}
	d, err := img.Digest()
	if err != nil {
		return summary{}, fmt.Errorf("digest: %w", err)
	}
	fi, err := os.Stat(o.out)
	if err != nil {
		return summary{}, fmt.Errorf("written image: %w", err)
	}
	return summary{digest: d, size: fi.Size()}, nil
}

// addLocalFile copies a regular file of this machine into t with its
// permission bits, owned by root.
func addLocalFile(t *tree, f fileSpec) error {
	fi, err := os.Stat(f.src)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("-file %s:%s: %s does not exist on this machine", f.src, f.dst, f.src)
	}
	if err != nil {
		return fmt.Errorf("-file %s:%s: %w", f.src, f.dst, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("-file %s:%s: %s is not a regular file (%s)", f.src, f.dst, f.src, fi.Mode().Type())
	}
	data, err := os.ReadFile(f.src)
	if err != nil {
		return fmt.Errorf("-file %s:%s: %w", f.src, f.dst, err)
	}
	if err := t.addFile(f.dst, int64(fi.Mode().Perm()), 0, 0, data); err != nil {
		return fmt.Errorf("-file %s:%s: %w", f.src, f.dst, err)
	}
	return nil
}

// writeAtomically writes the docker-archive to a temporary file next to out
// and renames it into place, so that a failed or interrupted build never
// leaves a truncated tarball where an importer would find it.
func writeAtomically(out string, ref name.Tag, img v1.Image) error {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tarball.Write(ref, img, f); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), out); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
