package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// tree is the content of the single layer: directories and regular files by
// clean absolute path. Parent directories nobody named are added as 0755
// root when the layer is written.
type tree struct {
	dirs  map[string]*tar.Header
	files map[string]file
}

type file struct {
	hdr  *tar.Header
	data []byte
}

// epoch is every entry's mtime: the same inputs must give the same digest.
var epoch = time.Unix(0, 0)

func newTree() *tree {
	return &tree{dirs: map[string]*tar.Header{}, files: map[string]file{}}
}

// entryName turns an absolute image path into a tar entry name ("/etc/passwd" →
// "etc/passwd"; directories end in "/").
func entryName(p string, dir bool) string {
	n := strings.TrimPrefix(path.Clean(p), "/")
	if dir {
		n += "/"
	}
	return n
}

func (t *tree) addDir(p string, mode int64, uid, gid int) error {
	p = path.Clean(p)
	if _, ok := t.files[p]; ok {
		return fmt.Errorf("%s is both a file and a directory", p)
	}
	if _, ok := t.dirs[p]; ok {
		return fmt.Errorf("directory %s given twice", p)
	}
	t.dirs[p] = &tar.Header{Name: entryName(p, true), Typeflag: tar.TypeDir, Mode: mode, Uid: uid, Gid: gid, ModTime: epoch}
	return nil
}

func (t *tree) addFile(p string, mode int64, uid, gid int, data []byte) error {
	p = path.Clean(p)
	if _, ok := t.dirs[p]; ok {
		return fmt.Errorf("%s is both a file and a directory", p)
	}
	if _, ok := t.files[p]; ok {
		return fmt.Errorf("two files at %s", p)
	}
	t.files[p] = file{
		hdr:  &tar.Header{Name: entryName(p, false), Typeflag: tar.TypeReg, Mode: mode, Uid: uid, Gid: gid, Size: int64(len(data)), ModTime: epoch},
		data: data,
	}
	return nil
}

// tar returns the layer as an uncompressed tar: directories first, then
// files, each group sorted by name, so that a parent always precedes its
// children and the order of the flags does not matter. (With only /tmp and
// the binary this is the layout mkimg always wrote.)
func (t *tree) tar() ([]byte, error) {
	dirs := make(map[string]*tar.Header, len(t.dirs))
	for p, h := range t.dirs {
		dirs[p] = h
	}
	addParents := func(p string) error {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := t.files[d]; ok {
				return fmt.Errorf("%s is a file, but %s is inside it", d, p)
			}
			if _, ok := dirs[d]; !ok {
				dirs[d] = &tar.Header{Name: entryName(d, true), Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}
			}
		}
		return nil
	}
	for p := range t.dirs {
		if err := addParents(p); err != nil {
			return nil, err
		}
	}
	for p := range t.files {
		if err := addParents(p); err != nil {
			return nil, err
		}
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range sortedByName(dirs) {
		if err := tw.WriteHeader(dirs[p]); err != nil {
			return nil, fmt.Errorf("tar header %s: %w", p, err)
		}
	}
	fileHdrs := make(map[string]*tar.Header, len(t.files))
	for p, f := range t.files {
		fileHdrs[p] = f.hdr
	}
	for _, p := range sortedByName(fileHdrs) {
		f := t.files[p]
		if err := tw.WriteHeader(f.hdr); err != nil {
			return nil, fmt.Errorf("tar header %s: %w", p, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("tar body %s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	return buf.Bytes(), nil
}

// sortedByName returns the keys of m ordered by their tar entry names.
func sortedByName(m map[string]*tar.Header) []string {
	keys := make([]string, 0, len(m))
	for p := range m {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]].Name < m[keys[j]].Name })
	return keys
}
