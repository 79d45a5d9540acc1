package app

import (
	"context"
	"net/http"
)

// HTTP/2 streams are accounted for one by one, each by its handler: the
// streams of a connection run concurrently, so they cannot share the
// per-request fields of their trackedConn as HTTP/1.1 requests do. What
// the outcomes then mean is in RequestCounts' documentation.

// streamWriter is the ResponseWriter of one HTTP/2 stream, recording what
// its outcome depends on.
type streamWriter struct {
	http.ResponseWriter
	ctx             context.Context // the request's: done once the stream is gone
	code            int             // final HTTP status, or the gRPC status's equivalent
	wrote           bool            // a write of the body was attempted
	werr            bool            // a write of the body failed
	deadBeforeWrite bool            // the stream was gone when the first write began
}

func (w *streamWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *streamWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if !w.wrote {
		w.wrote = true
		w.deadBeforeWrite = w.ctx.Err() != nil
	}
	n, err := w.ResponseWriter.Write(b)
	if err != nil {
		w.werr = true
	}
	return n, err
}

func (w *streamWriter) recordGRPCStatus(code int) {
	w.code = grpcHTTPStatus(code)
}

// serveStream serves an HTTP/2 request and accounts for it in rc.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, rc *reqCounters) {
	rc.received.Add(1)
	sw := &streamWriter{ResponseWriter: w, ctx: r.Context()}
	returned := false
	defer func() {
		failed := sw.werr || sw.ctx.Err() != nil
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		switch {
		case !returned, failed && (!sw.wrote || sw.deadBeforeWrite):
			rc.unanswered.Add(1)
		case failed:
			rc.writeFailed[statusClass(code)].Add(1)
		default:
			rc.written[statusClass(code)].Add(1)
		}
	}()
	s.serveHTTP(sw, r)
	returned = true
}
