package main

import (
	"fmt"
	"path"
	"strings"
)

// envFlag collects repeated -env KEY=VALUE flags in order.
type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, ",") }

func (e *envFlag) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("env %q: want KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

// fileSpec is one -file SRC:DST: a file of this machine and where it goes.
type fileSpec struct {
	src string // path on this machine
	dst string // absolute, clean path inside the image
}

// fileFlag collects repeated -file SRC:DST flags.
type fileFlag []fileSpec

func (f *fileFlag) String() string {
	s := make([]string, len(*f))
	for i, fs := range *f {
		s[i] = fs.src + ":" + fs.dst
	}
	return strings.Join(s, ",")
}

// Set splits at the last colon: the destination is an absolute path chosen
// by whoever writes the command line, the source may be any local path.
func (f *fileFlag) Set(v string) error {
	i := strings.LastIndexByte(v, ':')
	if i <= 0 {
		return fmt.Errorf("file %q: want SRC:DST", v)
	}
	src, dst := v[:i], v[i+1:]
	if !strings.HasPrefix(dst, "/") || path.Clean(dst) == "/" {
		return fmt.Errorf("file %q: DST %q must be an absolute path below /", v, dst)
	}
	*f = append(*f, fileSpec{src: src, dst: path.Clean(dst)})
	return nil
}
