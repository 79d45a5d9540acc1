package loadgen

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/net/http2/hpack"
)

// h2resp is one HTTP/2 stream's response as it arrives: what its header
// blocks say, its body streamed into a sink, and for gRPC its status and
// reply. The connection reads frames and hands a stream's to it; it is
// shared by the connection that carries one stream at a time (h2conn,
// which embeds it) and the one that multiplexes (h2mux, one per stream
// slot). It holds no lock: whoever reads the stream's frames owns it.
type h2resp struct {
	tr         *http2T
	id         uint32
	head       bool
	sendStream int64 // the stream's send window
	streamRecv int64 // DATA bytes consumed since the last stream WINDOW_UPDATE
	gotFinal   bool  // the final (non-1xx) header block arrived
	inHeaders  bool  // a header block is being decoded (CONTINUATION may follow)
	trailers   bool  // the block being decoded is trailers
	ended      bool  // END_STREAM seen
	answered   bool  // some frame of the response arrived
	status     int
	kept       int   // the final response's status
	endPending bool  // the HEADERS frame carried END_STREAM
	blockErr   error // a bad :status in the block being decoded
	capture    [][]byte
	has        []bool
	body       bodySink
	grpc       grpcCall // for gRPC calls: the status and the reply
	detail     []byte   // Response.Detail's
}

func newH2Resp(t *http2T) h2resp {
	r := h2resp{tr: t, capture: make([][]byte, len(t.cfg.Capture)), has: make([]bool, len(t.cfg.Capture)),
		body: newBodySink(t.cfg.ExpectBody, t.cfg.MaxBodyBytes)}
	if t.grpc {
		r.grpc = newGRPCCall(t.cfg.MaxBodyBytes)
	}
	return r
}

// begin starts the response of a new stream.
func (r *h2resp) begin(id uint32, head bool, sendWindow int64) {
	r.id, r.head = id, head
	r.gotFinal, r.inHeaders, r.ended, r.answered, r.status = false, false, false, false, 0
	r.sendStream, r.streamRecv = sendWindow, 0
	r.body.reset(false)
	if r.tr.grpc {
		r.grpc.reset()
	}
	for i := range r.has {
		r.has[i] = false
	}
}

// startBlock begins a header block (a HEADERS frame); endStream says the
// frame ends the stream, which takes effect once the block is complete.
func (r *h2resp) startBlock(endStream bool) {
	r.inHeaders = true
	r.trailers = r.gotFinal
	r.blockErr = nil
	r.status = 0
	if r.trailers {
		r.status = r.kept // trailers carry no :status; the response's stays
	}
	r.endPending = endStream
}

// endBlock completes a header block whose fields have been decoded.
func (r *h2resp) endBlock() error {
	r.inHeaders = false
	if r.blockErr != nil {
		return r.blockErr
	}
	if r.trailers {
		r.ended = r.endPending
		return nil
	}
	switch {
	case r.status == 0:
		return errors.New("response without :status")
	case r.status >= 100 && r.status < 200 && r.status != 101:
		// Interim (1xx): the final response follows on the same stream.
		r.ended = r.endPending
		return nil
	}
	r.gotFinal = true
	r.kept = r.status
	r.body.reset(r.status >= 200 && r.status < 300)
	r.ended = r.endPending
	return nil
}

// field is the HPACK decoder's emit function while the stream's block is
// decoded: it keeps :status and the captured headers of the final
// response, and from the trailers the captured headers the response's own
// lacked (gRPC metadata) and a gRPC call's status. Everything is decoded,
// as the dynamic table must follow the server's.
func (r *h2resp) field(f hpack.HeaderField) {
	if r.trailers {
		if r.tr.grpc {
			r.grpc.field(f.Name, f.Value)
		}
		r.keep(f)
		return
	}
	if f.Name == ":status" {
		n, err := strconv.Atoi(f.Value)
		if err != nil || n < 100 || n > 999 {
			r.blockErr = fmt.Errorf("bad :status %q", f.Value)
			return
		}
		r.status = n
		return
	}
	if r.status >= 100 && r.status < 200 && r.status != 101 {
		return // an interim response's headers are not the final ones
	}
	if r.tr.grpc && r.endPending {
		r.grpc.field(f.Name, f.Value) // a trailers-only response
	}
	r.keep(f)
}

// keep keeps f if it is a captured header not yet seen on the stream.
func (r *h2resp) keep(f hpack.HeaderField) {
	for i, name := range r.tr.cfg.Capture {
		if !r.has[i] && equalFold(name, f.Name) {
			r.capture[i] = append(r.capture[i][:0], f.Value...)
			r.has[i] = true
		}
	}
}

// dataPayload takes in a DATA frame's payload: the body, streamed into
// the sink, and a gRPC call's reply messages.
func (r *h2resp) dataPayload(p []byte) error {
	if !r.gotFinal {
		return errors.New("DATA before the response headers")
	}
	if r.head {
		return nil
	}
	// A gRPC message's length is read before its bytes: one longer than
	// the cap fails on its prefix, saying so.
	if r.tr.grpc && r.kept == 200 {
		if err := r.grpc.msgs.write(p); err != nil {
			return err
		}
	}
	return r.body.write(p)
}

// complete checks a stream that ended and fills res from it; its slices
// stay valid until the stream's next begin.
func (r *h2resp) complete(res *Response) error {
	if r.inHeaders {
		return errors.New("stream ended inside a header block")
	}
	if !r.gotFinal {
		return errors.New("stream ended without a final response")
	}
	res.Outcome, res.Detail = OK, nil
	if r.tr.grpc {
		if r.status == 200 {
			if err := r.grpc.msgs.end(); err != nil {
				return err
			}
		}
		r.detail = r.detail[:0]
		res.Outcome, r.detail = r.grpc.verdict(r.status, r.tr.health, r.detail)
		res.Detail = r.detail
	}
	res.Status = r.status
	res.Header = res.Header[:0]
	for i := range r.capture {
		if r.has[i] {
			res.Header = append(res.Header, r.capture[i])
		} else {
			res.Header = append(res.Header, nil)
		}
	}
	res.Body, res.BodyLen, res.Matched = r.body.win, r.body.n, r.body.match.found
	return nil
}
