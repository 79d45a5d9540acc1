package main

// The user database of a distroless/static-like image: root, nobody and
// nonroot (65532, the user distroless images run as), no login shell (there
// is none in the image). Programs and libraries that look a uid up (os/user,
// a home directory for HOME) find an answer instead of an error.
const (
	nonrootID = 65532

	passwdFile = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
`
	groupFile = `root:x:0:
nobody:x:65534:
nonroot:x:65532:
`
)

// addPasswd puts /etc/passwd, /etc/group and the home directories they name
// into t; the runtime sets HOME from /etc/passwd, so the home must exist.
func addPasswd(t *tree) error {
	for _, f := range []struct {
		path string
		data string
	}{{"/etc/passwd", passwdFile}, {"/etc/group", groupFile}} {
		if err := t.addFile(f.path, 0o644, 0, 0, []byte(f.data)); err != nil {
			return err
		}
	}
	if err := t.addDir("/root", 0o700, 0, 0); err != nil {
		return err
	}
	return t.addDir("/home/nonroot", 0o700, nonrootID, nonrootID)
}
