package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/nettest"
	"github.com/rolltest/rolltest/pkg/report"
)

// The bad-input corpus: every way a command line, a file or a server can
// be wrong, each with what rolltest must say and do. It is the reference
// of rolltest's messages (docs point here): a change to a message shows
// up as a change to this table.
//
// A usage entry (exit 2) must print exactly one line on stderr, starting
// "rolltest: ", naming the flag or file at fault (names) and saying how
// to fix it (hint), and nothing on stdout. A server entry runs against a
// loopback server that answers the preflight properly and then
// misbehaves: the run completes, exits 1 with nothing on stderr (--quiet)
// and its JSON report names the outcomes the misbehaviour must count as.

// corpusFile is a file an entry needs, created in the entry's directory
// before the run; args name it as $DIR/name.
type corpusFile struct {
	name    string
	kind    fileKind
	content string
	size    int64 // fileSparse: its size
}

type fileKind int

const (
	fileRegular fileKind = iota
	fileSparse           // size bytes, occupying no disk
	fileDir              // a directory where a file is expected
	// fileFIFO is a named pipe a writer fills with content, over and
	// over, until the reader stops: a file without an honest size or
	// end. Also how a file can be unreadable for root, who reads any
	// file whatever its mode (the tests run as root in CI containers,
	// so chmod 000 proves nothing).
	fileFIFO
	fileSymlinkLoop // name -> name.2 -> name
)

// serverKind is the loopback server an entry runs against; args name its
// base URL as $URL and its host:port as $HOSTPORT.
type serverKind int

const (
	noServer serverKind = iota
	srvOK               // answers every request 200 with a pod identity
	srvOK6              // srvOK on [::1]
	// After a proper answer to the preflight, every request gets:
	srvGarbage        // "HELLO\r\n", then close
	srvBadStatus      // a status line whose code is not three digits
	srvHugeHeaders    // 1 MiB of header lines
	srvSlowloris      // a header byte every 100 ms, never ending
	srvStall          // nothing, connection held
	srvEndlessBody    // a chunked body that never ends
	srvHugeLength     // Content-Length 1 TiB, bytes as fast as they go
	srvShortBody      // Content-Length 1000, 100 bytes, close
	srvLongBody       // Content-Length 2, then more bytes on the kept connection
	srvChunkedGarbage // a chunk size that is not hex
	srvCloseMidHeader // half a header line, then close
)

type corpusEntry struct {
	name   string
	args   []string
	files  []corpusFile
	server serverKind
	code   int
	// names is the flag or file the line names; hint the fix it gives.
	// $DIR expands in both.
	names, hint string
	// outcomes: for server entries, outcome names the report must count.
	outcomes []string
	// noRecords: the report lists no failure, every one counted as omitted.
	noRecords bool
}

// okRun is a valid run against $URL; entries add one bad flag to it.
var okRun = []string{"run", "--target", "$URL/", "--concurrency", "1", "--requests", "2", "--timeout", "500ms", "-q"}

// noServerRun is a valid command line whose target nothing answers: an
// entry that fails before the preflight never finds out.
var noServerRun = []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--duration", "1s"}

// faultRun is a run of three requests against a misbehaving server, each
// cut off by a short --timeout, its report written to $DIR/r.json.
var faultRun = []string{"run", "--target", "$URL/", "--concurrency", "1", "--requests", "3", "--timeout", "500ms",
	"--json", "$DIR/r.json", "-q"}

func with(base []string, extra ...string) []string {
	return append(append([]string(nil), base...), extra...)
}

func badRun(extra ...string) []string { return with(noServerRun, extra...) }

// grpcRun is badRun for a gRPC target.
func grpcRun(extra ...string) []string {
	return with([]string{"run", "--target", "grpc://127.0.0.1:1", "--rate", "10", "--duration", "1s"}, extra...)
}

// corpus is the table. Exit codes: report.ExitUsage (2) for bad input,
// report.ExitGateFailed (1) for a run that counted drops, 0 for the
// positive controls that prove an odd but valid input works.
func corpus() []corpusEntry {
	const usage, dropped = report.ExitUsage, report.ExitGateFailed
	longPath := "/" + strings.Repeat("a", 64<<10)
	return []corpusEntry{
		// Commands and arguments.
		{name: "unknown command", args: []string{"bogus"}, code: usage, names: `"bogus"`, hint: "unknown command"},
		{name: "version with an argument", args: []string{"version", "extra"}, code: usage, names: `"extra"`, hint: "unknown command"},
		{name: "run with an argument", args: badRun("extra"), code: usage, names: `"extra"`, hint: "see 'rolltest run --help'"},
		{name: "unknown flag", args: badRun("--bogus"), code: usage, names: "--bogus", hint: "see 'rolltest run --help'"},
		{name: "report without a file", args: []string{"report"}, code: usage, names: "arg", hint: "see 'rolltest report --help'"},
		{name: "import jmx without a plan", args: []string{"import", "jmx"}, code: usage, names: "arg", hint: "see 'rolltest import jmx --help'"},

		// --target and its URLs.
		{name: "target missing", args: []string{"run", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "required"},
		{name: "target empty", args: []string{"run", "--target", "", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "leave --target out"},
		{name: "target ftp", args: []string{"run", "--target", "ftp://127.0.0.1/x", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "scheme must be http or https"},
		{name: "target file", args: []string{"run", "--target", "file:///etc/passwd", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "scheme must be http or https"},
		{name: "target javascript", args: []string{"run", "--target", "javascript:alert(1)", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "scheme must be http or https"},
		{name: "target without scheme", args: []string{"run", "--target", "127.0.0.1:8080/x", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "is not a URL"},
		{name: "target without host", args: []string{"run", "--target", "http:///x", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "write it as http://HOST:PORT/PATH"},
		{name: "target IPv6 unclosed", args: []string{"run", "--target", "http://[::1/", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "missing ']' in host"},
		{name: "target IPv6 unbracketed", args: []string{"run", "--target", "http://::1:80/", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "invalid port"},
		{name: "target credentials", args: []string{"run", "--target", "http://alice:s3cr3t-pw@127.0.0.1:1/", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "send them with -H 'Authorization: ...'"},
		{name: "target port 0", args: []string{"run", "--target", "http://127.0.0.1:0/", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "port must be between 1 and 65535"},
		{name: "target port 99999", args: []string{"run", "--target", "http://127.0.0.1:99999/", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "port must be between 1 and 65535"},
		{name: "target negative port", args: []string{"run", "--target", "http://127.0.0.1:-1/", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "invalid port"},
		{name: "target space in host", args: []string{"run", "--target", "http://127.0.0.1 :1/", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "invalid character"},
		{name: "target nothing listening", args: badRun(), code: usage, names: "--target", hint: "is the service running and the URL right?"},
		{name: "target IPv6 loopback works", args: okRun, server: srvOK6, code: 0},
		{name: "target space in path works", args: with(okRun[:2], "$URL/a b", "--concurrency", "1", "--requests", "2", "-q"), server: srvOK, code: 0},
		{name: "target 64 KiB path works", args: with(okRun[:2], "$URL"+longPath, "--concurrency", "1", "--requests", "2", "-q"), server: srvOK, code: 0},

		// The load's shape.
		{name: "rate and concurrency unset", args: []string{"run", "--target", "http://127.0.0.1:1/", "--duration", "1s"}, code: usage, names: "--rate", hint: "set --rate R (requests per second) or --concurrency N (workers)"},
		{name: "rate and concurrency both", args: badRun("--concurrency", "2"), code: usage, names: "--rate", hint: "not both"},
		{name: "rate negative", args: badRun("--rate", "-5"), code: usage, names: "--rate", hint: "must be positive"},
		{name: "rate zero", args: badRun("--rate", "0"), code: usage, names: "--rate", hint: "set --rate R"},
		{name: "rate not a number", args: badRun("--rate", "ten"), code: usage, names: "--rate", hint: "see 'rolltest run --help'"},
		{name: "rate empty", args: badRun("--rate", ""), code: usage, names: "--rate", hint: "see 'rolltest run --help'"},
		{name: "rate NaN", args: badRun("--rate", "NaN"), code: usage, names: "--rate", hint: "must be positive"},
		{name: "rate infinite", args: badRun("--rate", "Inf"), code: usage, names: "--rate", hint: "split the load"},
		{name: "rate too high", args: badRun("--rate", "1e9"), code: usage, names: "--rate", hint: "split the load"},
		{name: "concurrency negative", args: []string{"run", "--target", "http://127.0.0.1:1/", "--concurrency", "-1", "--duration", "1s"}, code: usage, names: "--concurrency", hint: "must be positive"},
		{name: "concurrency too many", args: []string{"run", "--target", "http://127.0.0.1:1/", "--concurrency", "200000", "--duration", "1s"}, code: usage, names: "--connections", hint: "at most 100000"},
		{name: "connections with concurrency", args: []string{"run", "--target", "http://127.0.0.1:1/", "--concurrency", "2", "--connections", "5", "--duration", "1s"}, code: usage, names: "--connections", hint: "applies to --rate runs"},
		{name: "connections negative", args: badRun("--connections", "-1"), code: usage, names: "--connections", hint: "must be positive"},
		{name: "connections not a number", args: badRun("--connections", "x"), code: usage, names: "--connections", hint: "see 'rolltest run --help'"},
		{name: "max-connections negative", args: badRun("--max-connections", "-1"), code: usage, names: "--max-connections", hint: "must be positive"},
		{name: "max-connections below connections", args: badRun("--max-connections", "3", "--connections", "5"), code: usage, names: "--max-connections", hint: "set it to at least --connections"},
		{name: "max-connections below default", args: badRun("--max-connections", "10"), code: usage, names: "--max-connections", hint: "set --connections too"},
		{name: "duration unset", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10"}, code: usage, names: "--duration", hint: "or --requests N so that the run ends"},
		{name: "duration negative", args: badRun("--duration", "-1s"), code: usage, names: "--duration", hint: "must be positive"},
		{name: "duration without unit", args: badRun("--duration", "5"), code: usage, names: "--duration", hint: "missing unit"},
		{name: "requests negative", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--requests", "-1"}, code: usage, names: "--requests", hint: "see 'rolltest run --help'"},
		{name: "requests zero", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--requests", "0"}, code: usage, names: "--duration", hint: "or --requests N so that the run ends"},
		{name: "timeout zero", args: badRun("--timeout", "0"), code: usage, names: "--timeout", hint: "must be positive, e.g. 5s"},
		{name: "timeout negative", args: badRun("--timeout", "-1s"), code: usage, names: "--timeout", hint: "must be positive, e.g. 5s"},
		{name: "timeout too short to connect", args: with(okRun[:2], "$URL/", "--concurrency", "1", "--requests", "1", "--timeout", "1ns"), server: srvOK, code: usage, names: "--timeout 1ns", hint: "or is --timeout too short?"},
		{name: "timeout not a duration", args: badRun("--timeout", "x"), code: usage, names: "--timeout", hint: "invalid duration"},
		{name: "keepalive not a bool", args: badRun("--keepalive=maybe"), code: usage, names: "--keepalive", hint: "see 'rolltest run --help'"},
		{name: "insecure not a bool", args: badRun("--insecure=maybe"), code: usage, names: "--insecure", hint: "see 'rolltest run --help'"},
		{name: "retries negative", args: badRun("--retries", "-1"), code: usage, names: "--retries", hint: "between 0 and 10"},
		{name: "retries too many", args: badRun("--retries", "11"), code: usage, names: "--retries", hint: "between 0 and 10"},
		{name: "max-failure-records negative", args: badRun("--max-failure-records", "-5"), code: usage, names: "--max-failure-records", hint: "must be 0 (record none) or more"},
		{name: "max-failure-records not a number", args: badRun("--max-failure-records", "x"), code: usage, names: "--max-failure-records", hint: "see 'rolltest run --help'"},

		// The requests.
		{name: "method invalid", args: badRun("-X", "GE T"), code: usage, names: "--method", hint: "not a valid HTTP method"},
		{name: "method empty", args: badRun("-X", ""), code: usage, names: "--method", hint: "an unset variable?"},
		{name: "header without colon", args: badRun("-H", "nocolon"), code: usage, names: "--header", hint: "'Name: value'"},
		{name: "header without name", args: badRun("-H", ": v"), code: usage, names: "--header", hint: "'Name: value'"},
		{name: "header invalid name", args: badRun("-H", "Bad Name: v"), code: usage, names: "--header", hint: "use -H 'Name: value'"},
		{name: "header line break", args: badRun("-H", "X-A: a\r\nX-Injected: b"), code: usage, names: "--header", hint: "contains a line break"},
		{name: "header Content-Length", args: badRun("-H", "Content-Length: 5"), code: usage, names: "--header", hint: "drop -H 'Content-Length: ...'"},
		{name: "header Transfer-Encoding", args: badRun("-H", "transfer-encoding: chunked", "--body", "abc"), code: usage, names: "--header", hint: "drop -H 'transfer-encoding: ...'"},
		{name: "targets header Content-Length", args: []string{"run", "--targets", "$DIR/t", "--rate", "10", "--duration", "1s"}, files: []corpusFile{{name: "t", content: "POST http://127.0.0.1:1/\nContent-Length: 99\n"}}, code: usage, names: "--targets", hint: "target 1: rolltest frames each body itself; drop its Content-Length header"},
		{name: "body and body-file", args: badRun("--body", "a", "--body-file", "$DIR/b"), files: []corpusFile{{name: "b", content: "x"}}, code: usage, names: "--body", hint: "not both"},
		{name: "request-id-header invalid", args: badRun("--request-id-header", "bad header"), code: usage, names: "--request-id-header", hint: "not a valid header name"},
		{name: "identity empty", args: badRun("--identity", ""), code: usage, names: "--identity", hint: "an unset variable?"},
		{name: "expect-body empty", args: badRun("--expect-body", ""), code: usage, names: "--expect-body", hint: "an unset variable?"},
		{name: "identity unknown", args: badRun("--identity", "json:x"), code: usage, names: "--identity", hint: "auto"},
		{name: "identity bad regex", args: badRun("--identity", "regex:("), code: usage, names: "--identity", hint: "missing closing )"},
		{name: "identity regex without pod", args: badRun("--identity", "regex:abc"), code: usage, names: "--identity", hint: "add (?P<pod>...)"},
		{name: "identity header without name", args: badRun("--identity", "header:"), code: usage, names: "--identity", hint: "want header:NAME"},

		// HTTP/2.
		{name: "http2 on http", args: badRun("--http2"), code: usage, names: "--http2", hint: "use --h2c"},
		{name: "h2c on https", args: []string{"run", "--target", "https://127.0.0.1:1/", "--rate", "10", "--duration", "1s", "--h2c"}, code: usage, names: "--h2c", hint: "use --http2"},
		{name: "http2 and h2c", args: badRun("--http2", "--h2c"), code: usage, names: "--http2", hint: "not both"},
		{name: "streams without HTTP/2, 2", args: badRun("--streams", "2"), code: usage, names: "--streams", hint: "add --http2"},
		{name: "streams zero", args: badRun("--h2c", "--streams", "0"), code: usage, names: "--streams", hint: "between 1 and 1000"},
		{name: "streams too many", args: badRun("--h2c", "--streams", "1001"), code: usage, names: "--streams", hint: "between 1 and 1000"},
		{name: "streams not a number", args: badRun("--h2c", "--streams", "many"), code: usage, names: "--streams", hint: "see 'rolltest run --help'"},
		{name: "streams without keep-alive", args: badRun("--h2c", "--streams", "8", "--keepalive=false"), code: usage, names: "--streams", hint: "drop --keepalive=false"},
		{name: "streams on grpc without keep-alive", args: grpcRun("--streams", "8", "--keepalive=false"), code: usage, names: "--streams", hint: "drop --keepalive=false"},
		{name: "streams without HTTP/2", args: badRun("--streams", "1"), code: usage, names: "--streams", hint: "add --http2"},

		// gRPC.
		{name: "grpc with http2", args: grpcRun("--http2"), code: usage, names: "--http2", hint: "drop --http2"},
		{name: "grpc with h2c", args: grpcRun("--h2c"), code: usage, names: "--h2c", hint: "drop --h2c"},
		{name: "grpcs with h2c", args: []string{"run", "--target", "grpcs://127.0.0.1:1", "--rate", "10", "--duration", "1s", "--h2c"}, code: usage, names: "--h2c", hint: "drop --h2c"},
		{name: "grpcs with http2", args: []string{"run", "--target", "grpcs://127.0.0.1:1", "--rate", "10", "--duration", "1s", "--http2"}, code: usage, names: "--http2", hint: "drop --http2"},
		{name: "grpc with a method", args: grpcRun("-X", "GET"), code: usage, names: "--method", hint: "drop --method"},
		{name: "grpc target with a path", args: []string{"run", "--target", "grpc://127.0.0.1:1/pkg.Svc/Do", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "the method to call is --grpc-method"},
		{name: "grpc target without host", args: []string{"run", "--target", "grpc://", "--rate", "10", "--duration", "1s"}, code: usage, names: "--target", hint: "write it as grpc://HOST:PORT"},
		{name: "grpc-method on an http target", args: badRun("--grpc-method", "/a.B/C"), code: usage, names: "--grpc-method", hint: "give --target grpc://HOST:PORT"},
		{name: "grpc-method without its slash", args: grpcRun("--grpc-method", "a.B/C"), code: usage, names: "--grpc-method", hint: "write /package.Service/Method"},
		{name: "grpc-method with three slashes", args: grpcRun("--grpc-method", "/a/B/C"), code: usage, names: "--grpc-method", hint: "one '/' before the service"},
		{name: "grpc-method without a method", args: grpcRun("--grpc-method", "/a.B"), code: usage, names: "--grpc-method", hint: "one '/' before the service"},
		{name: "grpc-method empty", args: grpcRun("--grpc-method", ""), code: usage, names: "--grpc-method", hint: "an unset variable?"},
		{name: "grpc Content-Type header", args: grpcRun("-H", "Content-Type: application/json"), code: usage, names: "--header", hint: "drop -H 'Content-Type: ...'"},
		{name: "grpc target of a targets file", args: []string{"run", "--targets", "$DIR/t", "--rate", "10", "--duration", "1s"}, files: []corpusFile{{name: "t", content: "POST grpc://127.0.0.1:1\n"}}, code: usage, names: "$DIR/t line 1", hint: "scheme must be http or https"},
		{name: "grpc target on an HTTP/1.1 server", args: []string{"run", "--target", "grpc://$HOSTPORT", "--concurrency", "1", "--requests", "2", "-q"}, server: srvOK, code: usage, names: "grpc://$HOSTPORT", hint: "is this the service's gRPC port?"},

		// Input files. Unreadable: the tests run as root in CI containers,
		// and root reads a file of mode 000, so chmod proves nothing; an
		// unreadable file is /proc/self/mem instead (it opens, and reading
		// its offset 0, unmapped, fails with EIO for any user), a
		// directory, or a symlink loop. A named pipe with no writer is
		// left out on purpose: open(2) waits for a writer, as cat does,
		// and that is what a pipe is for (--body-file <(cmd)).
		{name: "body-file missing", args: badRun("--body-file", "$DIR/missing"), code: usage, names: "$DIR/missing", hint: "no such file"},
		{name: "body-file directory", args: badRun("--body-file", "$DIR/d"), files: []corpusFile{{name: "d", kind: fileDir}}, code: usage, names: "--body-file", hint: "is a directory"},
		{name: "body-file symlink loop", args: badRun("--body-file", "$DIR/loop"), files: []corpusFile{{name: "loop", kind: fileSymlinkLoop}}, code: usage, names: "--body-file", hint: "too many levels of symbolic links"},
		{name: "body-file unreadable", args: badRun("--body-file", "/proc/self/mem"), code: usage, names: "/proc/self/mem", hint: "input/output error"},
		{name: "body-file over the bound", args: badRun("--body-file", "$DIR/big"), files: []corpusFile{{name: "big", kind: fileSparse, size: maxBodyFileBytes + 1}}, code: usage, names: "--body-file", hint: "larger than 64 MiB; give a smaller file"},
		{name: "body-file empty flag", args: badRun("--body-file", ""), code: usage, names: "--body-file", hint: "an unset variable?"},
		{name: "targets and target", args: badRun("--targets", "$DIR/t"), files: []corpusFile{{name: "t", content: "GET http://127.0.0.1:1/\n"}}, code: usage, names: "--targets", hint: "not both"},
		{name: "targets missing", args: []string{"run", "--targets", "$DIR/missing", "--rate", "10", "--duration", "1s"}, code: usage, names: "$DIR/missing", hint: "no such file"},
		{name: "targets directory", args: []string{"run", "--targets", "$DIR/d", "--rate", "10", "--duration", "1s"}, files: []corpusFile{{name: "d", kind: fileDir}}, code: usage, names: "--targets", hint: "is a directory"},
		{name: "targets empty", args: []string{"run", "--targets", "$DIR/t", "--rate", "10", "--duration", "1s"}, files: []corpusFile{{name: "t"}}, code: usage, names: "--targets", hint: "write one 'METHOD URL' line per target"},
		{name: "targets bad line", args: []string{"run", "--targets", "$DIR/t", "--rate", "10", "--duration", "1s"}, files: []corpusFile{{name: "t", content: "GETX\n"}}, code: usage, names: "$DIR/t line 1", hint: "is not a 'METHOD URL' line"},
		{name: "targets bad JSON", args: []string{"run", "--targets", "$DIR/t", "--rate", "10", "--duration", "1s"}, files: []corpusFile{{name: "t", content: "{not json\n"}}, code: usage, names: "$DIR/t line 1", hint: `want {"method":"GET","url":"http://..."}`},
		{name: "targets ftp URL", args: []string{"run", "--targets", "$DIR/t", "--rate", "10", "--duration", "1s"}, files: []corpusFile{{name: "t", content: "GET ftp://127.0.0.1/\n"}}, code: usage, names: "--targets", hint: "scheme must be http or https"},
		{name: "targets credentials", args: []string{"run", "--targets", "$DIR/t", "--rate", "10", "--duration", "1s"}, files: []corpusFile{{name: "t", content: "GET http://bob:hunter2-pw@127.0.0.1:1/\n"}}, code: usage, names: "--targets", hint: "send an Authorization header"},
		{name: "targets endless pipe", args: []string{"run", "--targets", "$DIR/fifo", "--rate", "10", "--duration", "1s"}, files: []corpusFile{{name: "fifo", kind: fileFIFO, content: "GET http://127.0.0.1:1/\n"}}, code: usage, names: "$DIR/fifo", hint: "larger than 16 MiB"},
		{name: "targets over the bound", args: []string{"run", "--targets", "$DIR/t", "--rate", "10", "--duration", "1s"}, files: []corpusFile{{name: "t", kind: fileSparse, size: 16<<20 + 1}}, code: usage, names: "$DIR/t", hint: "larger than 16 MiB"},
		{name: "targets-format unknown", args: []string{"run", "--targets", "$DIR/t", "--targets-format", "yaml", "--rate", "10", "--duration", "1s"}, files: []corpusFile{{name: "t", content: "GET http://127.0.0.1:1/\n"}}, code: usage, names: "--targets-format", hint: "use http, json or auto"},
		{name: "targets-format without targets", args: badRun("--targets-format", "json"), code: usage, names: "--targets-format", hint: "give --targets FILE"},
		{name: "jmx missing", args: []string{"run", "--jmx", "$DIR/missing.jmx", "--duration", "1s"}, code: usage, names: "$DIR/missing.jmx", hint: "no such file"},
		{name: "jmx directory", args: []string{"run", "--jmx", "$DIR/d", "--duration", "1s"}, files: []corpusFile{{name: "d", kind: fileDir}}, code: usage, names: "--jmx", hint: "is a directory"},
		{name: "jmx empty", args: []string{"run", "--jmx", "$DIR/p.jmx", "--duration", "1s"}, files: []corpusFile{{name: "p.jmx"}}, code: usage, names: "--jmx", hint: "no XML element"},
		{name: "jmx broken XML", args: []string{"run", "--jmx", "$DIR/p.jmx", "--duration", "1s"}, files: []corpusFile{{name: "p.jmx", content: "<jmeterTestPlan"}}, code: usage, names: "--jmx", hint: "XML syntax error"},
		{name: "jmx Content-Length header", args: []string{"run", "--jmx", "$DIR/p.jmx", "--requests", "1"}, files: []corpusFile{{name: "p.jmx", content: strings.Replace(minimalJMX, "<hashTree/>", jmxHeader("Content-Length", "0"), 1)}}, code: usage, names: "--jmx: $DIR/p.jmx: target 1", hint: "drop its Content-Length header"},
		{name: "jmx over the bound", args: []string{"run", "--jmx", "$DIR/p.jmx", "--duration", "1s"}, files: []corpusFile{{name: "p.jmx", kind: fileSparse, size: 32<<20 + 1}}, code: usage, names: "--jmx", hint: "larger than 32 MiB"},
		{name: "import jmx missing", args: []string{"import", "jmx", "$DIR/missing.jmx"}, code: usage, names: "$DIR/missing.jmx", hint: "no such file"},
		{name: "import jmx directory", args: []string{"import", "jmx", "$DIR/d"}, files: []corpusFile{{name: "d", kind: fileDir}}, code: usage, names: "$DIR/d", hint: "is a directory"},
		{name: "import jmx broken XML", args: []string{"import", "jmx", "$DIR/p.jmx"}, files: []corpusFile{{name: "p.jmx", content: "<jmeterTestPlan"}}, code: usage, names: "$DIR/p.jmx", hint: "XML syntax error"},
		{name: "report missing", args: []string{"report", "$DIR/missing.json"}, code: usage, names: "$DIR/missing.json", hint: "no such file"},
		{name: "report directory", args: []string{"report", "$DIR/d"}, files: []corpusFile{{name: "d", kind: fileDir}}, code: usage, names: "$DIR/d", hint: "is a directory"},
		{name: "report unreadable", args: []string{"report", "/proc/self/mem"}, code: usage, names: "/proc/self/mem", hint: "input/output error"},
		{name: "report empty", args: []string{"report", "$DIR/r.json"}, files: []corpusFile{{name: "r.json"}}, code: usage, names: "$DIR/r.json", hint: "rolltest run --json"},
		{name: "report invalid JSON", args: []string{"report", "$DIR/r.json"}, files: []corpusFile{{name: "r.json", content: "{not json"}}, code: usage, names: "$DIR/r.json", hint: "rolltest run --json"},
		{name: "report another document", args: []string{"report", "$DIR/r.json"}, files: []corpusFile{{name: "r.json", content: `{"schema":"other/v1"}`}}, code: usage, names: "$DIR/r.json", hint: "rolltest/v1"},
		{name: "report over the bound", args: []string{"report", "$DIR/r.json"}, files: []corpusFile{{name: "r.json", kind: fileSparse, size: report.MaxResultBytes + 1}}, code: usage, names: "$DIR/r.json", hint: "give the file written by rolltest run --json"},

		// Output files and the gate.
		{name: "json in a missing directory", args: badRun("--json", "$DIR/no/such/dir/r.json"), code: usage, names: "--json", hint: "create it or choose another path"},
		{name: "json a directory", args: badRun("--json", "$DIR/d"), files: []corpusFile{{name: "d", kind: fileDir}}, code: usage, names: "--json", hint: "give a file name"},
		{name: "json empty", args: badRun("--json", ""), code: usage, names: "--json", hint: "an unset variable?"},
		{name: "html in a missing directory", args: badRun("--html", "/proc/nonexistent/r.html"), code: usage, names: "--html", hint: "create it or choose another path"},
		{name: "junit a directory", args: badRun("--junit", "$DIR/d/"), files: []corpusFile{{name: "d", kind: fileDir}}, code: usage, names: "--junit", hint: "give a file name"},
		{name: "markdown a directory", args: badRun("--markdown", "$DIR/d"), files: []corpusFile{{name: "d", kind: fileDir}}, code: usage, names: "--markdown", hint: "give a file name"},
		{name: "hgrm in a missing directory", args: badRun("--hgrm", "$DIR/no/h.hgrm"), code: usage, names: "--hgrm", hint: "create it or choose another path"},
		{name: "two formats one file", args: badRun("--json", "$DIR/r", "--html", "$DIR/r"), code: usage, names: "--html", hint: "give each its own file"},
		{name: "jtl a directory", args: badRun("--jtl", "$DIR/d"), files: []corpusFile{{name: "d", kind: fileDir}}, code: usage, names: "--jtl", hint: "give a file name"},
		{name: "jtl the json file", args: badRun("--json", "$DIR/r", "--jtl", "$DIR/r"), code: usage, names: "--jtl", hint: "give each its own file"},
		{name: "report jtl", args: []string{"report", "$DIR/r.json", "--jtl", "$DIR/r.jtl"}, code: usage, names: "--jtl", hint: "write the .jtl during the run"},
		{name: "report html in a missing directory", args: []string{"report", "$DIR/r.json", "--html", "$DIR/no/r.html"}, files: []corpusFile{{name: "r.json", content: minimalResult}}, code: usage, names: "--html", hint: "create it or choose another path"},
		{name: "report two formats one file", args: []string{"report", "$DIR/r.json", "--html", "$DIR/out", "--markdown", "$DIR/out"}, files: []corpusFile{{name: "r.json", content: minimalResult}}, code: usage, names: "--markdown", hint: "give each its own file"},
		{name: "import jmx output in a missing directory", args: []string{"import", "jmx", "$DIR/p.jmx", "-o", "$DIR/no/t.jsonl"}, files: []corpusFile{{name: "p.jmx", content: minimalJMX}}, code: usage, names: "-o $DIR/no/t.jsonl", hint: "no such file"},
		{name: "max-errors below -1", args: badRun("--max-errors", "-2"), code: usage, names: "--max-errors", hint: "-1 for no limit"},
		{name: "max-errors not a number", args: badRun("--max-errors", "x"), code: usage, names: "--max-errors", hint: "see 'rolltest run --help'"},
		{name: "max-error-rate not a number", args: badRun("--max-error-rate", "lots"), code: usage, names: "--max-error-rate", hint: "write a fraction like 0.001"},
		{name: "max-error-rate above 1", args: badRun("--max-error-rate", "2"), code: usage, names: "--max-error-rate", hint: "outside 0–100%"},
		{name: "max-error-rate negative", args: badRun("--max-error-rate", "-1%"), code: usage, names: "--max-error-rate", hint: "outside 0–100%"},
		{name: "max-error-rate empty", args: badRun("--max-error-rate", ""), code: usage, names: "--max-error-rate", hint: "an unset variable?"},
		{name: "deployment empty", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--deployment", ""}, code: usage, names: "--deployment", hint: "an unset variable?"},
		{name: "namespace empty", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--deployment", "web", "-n", ""}, code: usage, names: "--namespace", hint: "an unset variable?"},
		{name: "max-late above 100%", args: badRun("--max-late", "150%"), code: usage, names: "--max-late", hint: "outside 0–100%"},
		{name: "max-late not a number", args: badRun("--max-late", "abc"), code: usage, names: "--max-late", hint: "write a fraction like 0.001"},
		{name: "max-p99 negative", args: badRun("--max-p99", "-1ms"), code: usage, names: "--max-p99", hint: "e.g. 250ms"},
		{name: "max-p99 without unit", args: badRun("--max-p99", "1"), code: usage, names: "--max-p99", hint: "missing unit"},
		{name: "max-p99-ratio negative", args: badRun("--max-p99-ratio", "-1"), code: usage, names: "--max-p99-ratio", hint: "e.g. 2 for twice the baseline p99"},
		{name: "max-p99-ratio NaN", args: badRun("--max-p99-ratio", "NaN"), code: usage, names: "--max-p99-ratio", hint: "e.g. 2 for twice the baseline p99"},
		{name: "metrics-addr without port", args: badRun("--metrics-addr", "nonsense"), code: usage, names: "--metrics-addr", hint: "e.g. 127.0.0.1:9464"},
		{name: "metrics-addr port out of range", args: badRun("--metrics-addr", "127.0.0.1:99999"), code: usage, names: "--metrics-addr", hint: "invalid port"},
		{name: "metrics-linger without addr", args: badRun("--metrics-linger", "1s"), code: usage, names: "--metrics-linger", hint: "needs --metrics-addr"},
		{name: "metrics-linger negative", args: badRun("--metrics-linger", "-1s", "--metrics-addr", "127.0.0.1:0"), code: usage, names: "--metrics-linger", hint: "must be 0 or more"},

		// The rollout.
		{name: "workload unknown kind", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--workload", "bogus/web"}, code: usage, names: "--workload", hint: "want deployment, statefulset or daemonset"},
		{name: "workload without kind", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--workload", "web"}, code: usage, names: "--workload", hint: "e.g. deployment/web"},
		{name: "workload without name", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--workload", "deploy/"}, code: usage, names: "--workload", hint: "e.g. deployment/web"},
		{name: "workload and deployment", args: badRun("--deployment", "web", "--workload", "deploy/web"), code: usage, names: "--workload", hint: "give one of them"},
		{name: "rollout with duration", args: badRun("--deployment", "web"), code: usage, names: "--duration", hint: "bound the rollout with --rollout-timeout"},
		{name: "rollout with requests", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--requests", "5", "--deployment", "web"}, code: usage, names: "--requests", hint: "drop --requests"},
		{name: "rollout image without container", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--deployment", "web", "--rollout", "image=x"}, code: usage, names: "--rollout", hint: "image=app=registry/app:v2"},
		{name: "rollout unknown", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--deployment", "web", "--rollout", "sideways"}, code: usage, names: "--rollout", hint: "restart, image=CONTAINER=IMAGE, watch, or none"},
		{name: "rollout-after negative", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--deployment", "web", "--rollout-after", "-1s"}, code: usage, names: "--rollout-after", hint: "must be 0 or more"},
		{name: "settle negative", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--deployment", "web", "--settle", "-1s"}, code: usage, names: "--settle", hint: "must be 0 or more"},

		// --agents: refused before any cluster is contacted.
		{name: "agents zero", args: []string{"run", "--target", "http://web.shop.svc:8080/", "--rate", "10", "--duration", "10s", "--agents", "0"}, code: usage, names: "--agents", hint: "give 1 to 1000"},
		{name: "agents too many", args: []string{"run", "--target", "http://web.shop.svc:8080/", "--rate", "10", "--duration", "10s", "--agents", "1001"}, code: usage, names: "--agents", hint: "give 1 to 1000"},
		{name: "agents with requests", args: []string{"run", "--target", "http://web.shop.svc:8080/", "--rate", "10", "--requests", "100", "--agents", "2"}, code: usage, names: "--requests", hint: "give --duration instead"},
		{name: "agents with jtl", args: []string{"run", "--target", "http://web.shop.svc:8080/", "--rate", "10", "--duration", "10s", "--agents", "2", "--jtl", "$DIR/x.jtl"}, code: usage, names: "--jtl", hint: "the report holds every failure"},
		{name: "agents with metrics", args: []string{"run", "--target", "http://web.shop.svc:8080/", "--rate", "10", "--duration", "10s", "--agents", "2", "--metrics-addr", "127.0.0.1:0"}, code: usage, names: "--metrics-addr", hint: "sends nothing with --agents"},
		{name: "agents startup short", args: []string{"run", "--target", "http://web.shop.svc:8080/", "--rate", "10", "--duration", "10s", "--agents", "2", "--agents-startup", "1s"}, code: usage, names: "--agents-startup", hint: "give at least 2s"},
		{name: "agents pull policy", args: []string{"run", "--target", "http://web.shop.svc:8080/", "--rate", "10", "--duration", "10s", "--agents", "2", "--agent-pull-policy", "Sometimes"}, code: usage, names: "--agent-pull-policy", hint: "give Always, IfNotPresent or Never"},
		{name: "agent image without agents", args: []string{"run", "--target", "http://web.shop.svc:8080/", "--rate", "10", "--duration", "10s", "--agent-image", "r/rolltest:v1"}, code: usage, names: "--agent-image", hint: "applies to --agents N"},
		{name: "agents rollout without room", args: []string{"run", "--target", "http://web.shop.svc:8080/", "--rate", "10", "--duration", "20s", "--agents", "2", "--deployment", "web"}, code: usage, names: "--duration", hint: "leaves no time for the rollout"},
		{name: "agents namespace without workload", args: []string{"run", "--target", "http://web.shop.svc:8080/", "--rate", "10", "--duration", "10s", "--agents", "2", "-n", "shop", "--kubeconfig", "$DIR/none"}, code: usage, names: "--kubeconfig", hint: "cannot load the cluster configuration"},
		{name: "agents bad kubeconfig", args: []string{"run", "--target", "http://web.shop.svc:8080/", "--rate", "10", "--duration", "10s", "--agents", "2", "--kubeconfig", "$DIR/none"}, code: usage, names: "--kubeconfig", hint: "cannot load the cluster configuration"},
		{name: "rollout-timeout zero", args: []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10", "--deployment", "web", "--rollout-timeout", "0"}, code: usage, names: "--rollout-timeout", hint: "e.g. 2m"},
		{name: "rollout flag without workload", args: badRun("--rollout", "image=app=registry/app:v2"), code: usage, names: "--rollout", hint: "add --workload KIND/NAME"},
		{name: "namespace without workload", args: badRun("-n", "shop"), code: usage, names: "--namespace", hint: "add --workload KIND/NAME"},
		{name: "context without workload", args: badRun("--context", "kind-test"), code: usage, names: "--context", hint: "add --workload KIND/NAME"},
		{name: "service without workload", args: badRun("--service", "web"), code: usage, names: "--service", hint: "add --workload KIND/NAME"},
		{name: "rollout none without workload works", args: with(okRun, "--rollout", "none"), server: srvOK, code: 0},
		{name: "kubeconfig missing", args: []string{"run", "--target", "$URL/", "--rate", "10", "--deployment", "web", "--kubeconfig", "$DIR/missing", "-q"}, server: srvOK, code: usage, names: "--kubeconfig", hint: "no such file"},
		{name: "kubeconfig directory", args: []string{"run", "--target", "$URL/", "--rate", "10", "--deployment", "web", "--kubeconfig", "$DIR/d", "-q"}, files: []corpusFile{{name: "d", kind: fileDir}}, server: srvOK, code: usage, names: "--kubeconfig", hint: "is a directory"},

		// demo's own flags.
		{name: "demo preset unknown", args: []string{"demo", "--preset", "bogus"}, code: usage, names: "--preset", hint: "safe, unsafe, pinning"},
		{name: "demo rollout unknown", args: []string{"demo", "--rollout", "sideways"}, code: usage, names: "--rollout", hint: "restart or image"},
		{name: "demo replicas zero", args: []string{"demo", "--replicas", "0"}, code: usage, names: "--replicas", hint: "between 1 and 50"},
		{name: "demo replicas too many", args: []string{"demo", "--replicas", "1000000"}, code: usage, names: "--replicas", hint: "between 1 and 50"},
		{name: "demo max-surge not a number", args: []string{"demo", "--max-surge", "x"}, code: usage, names: "--max-surge", hint: "nor a percentage (25%)"},
		{name: "demo max-surge negative", args: []string{"demo", "--max-surge", "-1"}, code: usage, names: "--max-surge", hint: "must not be negative"},
		{name: "demo max-unavailable above 100%", args: []string{"demo", "--max-unavailable", "200%"}, code: usage, names: "--max-unavailable", hint: "greater than 100%"},
		{name: "demo surge and unavailable zero", args: []string{"demo", "--max-surge", "0", "--max-unavailable", "0"}, code: usage, names: "--max-unavailable", hint: "could never make progress"},
		{name: "demo endpoint-delay negative", args: []string{"demo", "--endpoint-delay", "-1s"}, code: usage, names: "--endpoint-delay", hint: "must not be negative"},
		{name: "demo prestop negative", args: []string{"demo", "--prestop", "-1s"}, code: usage, names: "--prestop", hint: "must not be negative"},
		{name: "demo grace-period negative", args: []string{"demo", "--grace-period", "-1s"}, code: usage, names: "--grace-period", hint: "must not be negative"},
		{name: "demo start-delay negative", args: []string{"demo", "--start-delay", "-1s"}, code: usage, names: "--start-delay", hint: "must not be negative"},
		{name: "demo readiness-period zero", args: []string{"demo", "--readiness-period", "0"}, code: usage, names: "--readiness-period", hint: "must be positive"},
		{name: "demo readiness-period without probe", args: []string{"demo", "--preset", "unsafe", "--readiness-period", "1s"}, code: usage, names: "--readiness-period", hint: "has no readiness probe"},
		{name: "demo settle negative", args: []string{"demo", "--settle", "-1s"}, code: usage, names: "--settle", hint: "must be 0 or more"},
		{name: "demo protocol unknown", args: []string{"demo", "--protocol", "http3"}, code: usage, names: "--protocol", hint: "not one of http1, h2c or grpc"},
		{name: "demo grpc with target", args: []string{"demo", "--protocol", "grpc", "--target", "/common/healthy"}, code: usage, names: "--target", hint: "drop --target"},
		{name: "demo h2c with http2", args: []string{"demo", "--protocol", "h2c", "--http2"}, code: usage, names: "--http2", hint: "drop --http2"},
		{name: "demo rollout-timeout zero", args: []string{"demo", "--rollout-timeout", "0"}, code: usage, names: "--rollout-timeout", hint: "e.g. 2m"},
		{name: "demo app-startup-delay negative", args: []string{"demo", "--app-startup-delay", "-1s"}, code: usage, names: "--app-startup-delay", hint: "must not be negative"},
		{name: "demo app-prestop-mode unknown", args: []string{"demo", "--app-prestop-mode", "sideways"}, code: usage, names: "--app-prestop-mode", hint: `want "drain" or "reject"`},
		{name: "demo seed negative", args: []string{"demo", "--seed", "-1"}, code: usage, names: "--seed", hint: "see 'rolltest demo --help'"},
		{name: "demo target a URL", args: []string{"demo", "--target", "http://127.0.0.1:1/"}, code: usage, names: "--target", hint: "e.g. /common/healthy"},
		{name: "demo connections zero", args: []string{"demo", "--connections", "0"}, code: usage, names: "--connections", hint: "must be positive"},
		{name: "demo rate negative", args: []string{"demo", "--rate", "-1"}, code: usage, names: "--rate", hint: "must be positive"},
		{name: "demo timeout zero", args: []string{"demo", "--timeout", "0"}, code: usage, names: "--timeout", hint: "must be positive"},
		{name: "demo jmx and target", args: []string{"demo", "--jmx", "$DIR/p.jmx", "--target", "/x"}, files: []corpusFile{{name: "p.jmx", content: minimalJMX}}, code: usage, names: "--jmx", hint: "drop --target"},
		{name: "demo ground-truth a directory", args: []string{"demo", "--ground-truth", "$DIR/d"}, files: []corpusFile{{name: "d", kind: fileDir}}, code: usage, names: "--ground-truth", hint: "give a file name"},
		{name: "demo ground-truth in a missing directory", args: []string{"demo", "--ground-truth", "$DIR/no/g.json"}, code: usage, names: "--ground-truth", hint: "create it or choose another path"},

		// Servers that answer badly. Each answers the preflight properly,
		// then misbehaves for every request of the run.
		{name: "server garbage", args: faultRun, server: srvGarbage, code: dropped, outcomes: []string{"other"}},
		{name: "server garbage, bearer token kept out", args: with(faultRun, "-H", "Authorization: Bearer s3cr3t-pw"), server: srvGarbage, code: dropped, outcomes: []string{"other"}},
		{name: "server garbage, no failure records", args: with(faultRun, "--max-failure-records", "0"), server: srvGarbage, code: dropped, outcomes: []string{"other"}, noRecords: true},
		{name: "server invalid status code", args: faultRun, server: srvBadStatus, code: dropped, outcomes: []string{"other"}},
		{name: "server 1 MiB of headers", args: faultRun, server: srvHugeHeaders, code: dropped, outcomes: []string{"other"}},
		{name: "server slowloris headers", args: faultRun, server: srvSlowloris, code: dropped, outcomes: []string{"timeout_response"}},
		{name: "server stalls", args: faultRun, server: srvStall, code: dropped, outcomes: []string{"timeout_response"}},
		{name: "server endless body", args: faultRun, server: srvEndlessBody, code: dropped, outcomes: []string{"timeout_response"}},
		{name: "server 1 TiB Content-Length", args: faultRun, server: srvHugeLength, code: dropped, outcomes: []string{"timeout_response"}},
		{name: "server body shorter than Content-Length", args: faultRun, server: srvShortBody, code: dropped, outcomes: []string{"eof"}},
		// Stray bytes after a response: each response is whole, and the
		// connection is not reused, so nothing is dropped.
		{name: "server body longer than Content-Length", args: faultRun, server: srvLongBody, code: 0, outcomes: []string{"ok"}},
		{name: "server chunked garbage", args: faultRun, server: srvChunkedGarbage, code: dropped, outcomes: []string{"other"}},
		{name: "server closes mid-headers", args: faultRun, server: srvCloseMidHeader, code: dropped, outcomes: []string{"eof"}},
	}
}

// minimalResult is the least document rolltest report reads.
const minimalResult = `{"schema":"rolltest/v1"}`

// minimalJMX is the smallest plan import jmx translates: one request.
const minimalJMX = `<?xml version="1.0" encoding="UTF-8"?>
<jmeterTestPlan version="1.2"><hashTree><TestPlan testname="p"/><hashTree>
<ThreadGroup testname="g"><intProp name="ThreadGroup.num_threads">1</intProp></ThreadGroup><hashTree>
<HTTPSamplerProxy testname="home"><stringProp name="HTTPSampler.domain">127.0.0.1</stringProp><stringProp name="HTTPSampler.port">1</stringProp><stringProp name="HTTPSampler.path">/</stringProp><stringProp name="HTTPSampler.method">GET</stringProp></HTTPSamplerProxy><hashTree/>
</hashTree></hashTree></hashTree></jmeterTestPlan>`

// jmxHeader is a HeaderManager of one header, as the hash tree under a
// sampler.
func jmxHeader(name, value string) string {
	return `<hashTree><HeaderManager testname="h"><collectionProp name="HeaderManager.headers"><elementProp name="" elementType="Header">` +
		`<stringProp name="Header.name">` + name + `</stringProp><stringProp name="Header.value">` + value + `</stringProp>` +
		`</elementProp></collectionProp></HeaderManager><hashTree/></hashTree>`
}

func TestBadInputCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every command of the corpus, some against loopback servers")
	}
	seen := map[string]bool{}
	for _, e := range corpus() {
		if seen[e.name] {
			t.Fatalf("two entries named %q", e.name)
		}
		seen[e.name] = true
		t.Run(e.name, func(t *testing.T) {
			// The endless-body entries measure the process's allocations
			// and so run alone; every other entry runs beside the rest.
			if e.server != srvEndlessBody && e.server != srvHugeLength {
				t.Parallel()
			}
			runEntry(t, e)
		})
	}
}

func runEntry(t *testing.T, e corpusEntry) {
	dir := t.TempDir()
	for _, f := range e.files {
		makeCorpusFile(t, dir, f)
	}
	var srv *corpusServer
	if e.server != noServer {
		srv = startCorpusServer(t, e.server)
	}
	expand := func(s string) string {
		s = strings.ReplaceAll(s, "$DIR", dir)
		if srv != nil {
			s = strings.ReplaceAll(s, "$HOSTPORT", strings.TrimPrefix(srv.url, "http://"))
			s = strings.ReplaceAll(s, "$URL", srv.url)
		}
		return s
	}
	args := make([]string, len(e.args))
	for i, a := range e.args {
		args[i] = expand(a)
	}
	// A bound on every entry: a hang fails the entry, not the package.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var before runtime.MemStats
	if srv != nil && srv.countsBody {
		runtime.ReadMemStats(&before)
	}
	code, out, errOut := cli(t, ctx, args...)
	if ctx.Err() != nil {
		t.Fatalf("did not end within 30 s: exit %d stderr %q", code, errOut)
	}
	if code != e.code {
		t.Fatalf("exit %d, want %d\nstdout: %.2000s\nstderr: %.2000s", code, e.code, out, errOut)
	}
	switch {
	case e.code == report.ExitUsage:
		line := strings.TrimSuffix(errOut, "\n")
		if strings.Contains(line, "\n") || !strings.HasPrefix(line, "rolltest: ") {
			t.Fatalf("stderr is not one line starting 'rolltest: ': %q", errOut)
		}
		for _, want := range []string{expand(e.names), expand(e.hint)} {
			if !strings.Contains(line, want) {
				t.Errorf("stderr %q lacks %q", line, want)
			}
		}
		if out != "" {
			t.Errorf("printed to stdout: %.500q", out)
		}
		for _, secret := range []string{"s3cr3t-pw", "hunter2-pw"} {
			if strings.Contains(errOut, secret) {
				t.Errorf("stderr leaks a credential of the URL: %q", errOut)
			}
		}
	case len(e.outcomes) > 0:
		if errOut != "" || out != "" {
			t.Errorf("a --quiet run printed: stdout %.500q stderr %.500q", out, errOut)
		}
		r := readResult(t, filepath.Join(dir, "r.json"))
		if doc, _ := os.ReadFile(filepath.Join(dir, "r.json")); strings.Contains(string(doc), "s3cr3t-pw") {
			t.Error("the report holds the bearer token")
		}
		if r.Verdict.ExitCode != e.code || (r.Totals.Failed > 0) != (e.code == report.ExitGateFailed) {
			t.Errorf("totals %+v verdict %+v: want exit %d", r.Totals, r.Verdict, e.code)
		}
		if e.noRecords && (len(r.Failures.Records) != 0 || r.Failures.Omitted != r.Totals.Failed) {
			t.Errorf("%d failure records, %d omitted, %d failed: want none recorded, all omitted", len(r.Failures.Records), r.Failures.Omitted, r.Totals.Failed)
		}
		var total int64
		for name, n := range r.Totals.Outcomes {
			total += n
			if n > 0 && !containsString(e.outcomes, name) {
				t.Errorf("outcome %s counted %d times; want only %v (totals %+v)", name, n, e.outcomes, r.Totals)
			}
		}
		for _, name := range e.outcomes {
			if r.Totals.Outcomes[name] == 0 {
				t.Errorf("outcome %s not counted: %+v", name, r.Totals.Outcomes)
			}
		}
		if total != r.Totals.Requests || r.Totals.Requests != 3 {
			t.Errorf("outcomes %v sum to %d of %d requests; want all 3 counted once", r.Totals.Outcomes, total, r.Totals.Requests)
		}
	default:
		if errOut != "" {
			t.Errorf("stderr %q", errOut)
		}
	}
	if srv != nil && srv.countsBody {
		// The body is read as it streams and dropped: the process's
		// allocations during the run must not follow the bytes the
		// server sent (a body held in memory would cost at least as much
		// as it is long).
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		sent := srv.bodyBytes.Load()
		if alloc := after.TotalAlloc - before.TotalAlloc; sent > 64<<20 && alloc > uint64(sent)/4 {
			t.Errorf("allocated %d bytes while the server sent %d body bytes: the body is being held", alloc, sent)
		}
		t.Logf("server sent %d body bytes", sent)
	}
}

func containsString(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func makeCorpusFile(t *testing.T, dir string, f corpusFile) {
	t.Helper()
	path := filepath.Join(dir, f.name)
	var err error
	switch f.kind {
	case fileRegular:
		err = os.WriteFile(path, []byte(f.content), 0o644)
	case fileSparse:
		err = os.WriteFile(path, nil, 0o644)
		if err == nil {
			err = os.Truncate(path, f.size)
		}
	case fileDir:
		err = os.Mkdir(path, 0o755)
	case fileSymlinkLoop:
		err = errors.Join(os.Symlink(f.name+".2", path), os.Symlink(f.name, path+".2"))
	case fileFIFO:
		err = syscall.Mkfifo(path, 0o644)
		if err == nil {
			feedFIFO(t, path, f.content)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// feedFIFO writes content to the named pipe over and over until its
// reader closes it. Should the command never open the pipe, the cleanup
// opens it to let the writer's own open return, so no goroutine is left
// blocked.
func feedFIFO(t *testing.T, path, content string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		chunk := []byte(strings.Repeat(content, max(1, 64<<10/len(content))))
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := w.Write(chunk); err != nil {
				return // the reader is gone: EPIPE
			}
		}
	}()
	t.Cleanup(func() {
		if r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			r.Close()
		}
		<-done
	})
}

// corpusServer is a loopback HTTP/1.1 server written on raw TCP, so that
// it can answer in ways net/http never would. It answers the first
// request (rolltest's preflight) properly and every later one by its
// kind. Every connection ends when rolltest closes it, or at the latest
// after 10 s.
type corpusServer struct {
	url        string
	kind       serverKind
	n          atomic.Int64
	bodyBytes  atomic.Int64 // endless bodies: bytes sent
	countsBody bool
}

const corpusPod = "corpus-pod-1 >> 127.0.0.1 >> v1"

func startCorpusServer(t *testing.T, kind serverKind) *corpusServer {
	t.Helper()
	listen := "127.0.0.1:0"
	if kind == srvOK6 {
		listen = "[::1]:0"
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		ln.Close()
	}
	s := &corpusServer{kind: kind, countsBody: kind == srvEndlessBody || kind == srvHugeLength}
	addr, _ := nettest.ServeAt(t, listen, 10*time.Second, s.serve)
	s.url = "http://" + addr
	return s
}

func (s *corpusServer) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		if s.n.Add(1) == 1 || s.kind == srvOK || s.kind == srvOK6 {
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(corpusPod), corpusPod); err != nil {
				return
			}
			continue
		}
		if !s.misbehave(c) {
			return
		}
	}
}

// misbehave answers one request by the server's kind; it reports whether
// the connection may carry another request.
func (s *corpusServer) misbehave(c net.Conn) bool {
	write := func(s string) bool { _, err := io.WriteString(c, s); return err == nil }
	switch s.kind {
	case srvGarbage:
		write("HELLO\r\n")
	case srvBadStatus:
		write("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n")
	case srvHugeHeaders:
		if !write("HTTP/1.1 200 OK\r\n") {
			return false
		}
		line := "X-Pad: " + strings.Repeat("p", 1000) + "\r\n"
		for range (1 << 20) / len(line) {
			if !write(line) {
				return false
			}
		}
		write(fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(corpusPod), corpusPod))
	case srvSlowloris:
		if !write("HTTP/1.1 200 OK\r\nX-Slow: ") {
			return false
		}
		for write("z") {
			time.Sleep(100 * time.Millisecond)
		}
	case srvStall:
		_, _ = io.Copy(io.Discard, c) // until rolltest gives up and closes
	case srvEndlessBody, srvHugeLength:
		head := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		if s.kind == srvHugeLength {
			head = fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", int64(1)<<40)
		}
		if !write(head) {
			return false
		}
		// Bytes, not a string: io.WriteString would copy the string into
		// a new slice on every write, and the test counts allocations.
		piece := []byte(strings.Repeat("endless-", 4096))
		if s.kind == srvEndlessBody {
			piece = fmt.Appendf(nil, "%x\r\n%s\r\n", len(piece), piece)
		}
		for {
			n, err := c.Write(piece)
			s.bodyBytes.Add(int64(n))
			if err != nil {
				return false
			}
		}
	case srvShortBody:
		write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("s", 100))
	case srvLongBody:
		// The extra bytes are read as the start of the next response on
		// this connection.
		return write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA BYTES\r\n")
	case srvChunkedGarbage:
		write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
	case srvCloseMidHeader:
		write("HTTP/1.1 200 OK\r\nContent-Ty")
	}
	return false
}
