// Package loadgen sends HTTP load and records, exactly, how every request
// ended: one outcome per request, every failed attempt kept, latency from
// the intended send time, and the pod that answered.
//
// An Engine runs either model:
//
//   - open (Config.Rate): requests fall due on a fixed schedule whether or
//     not the server keeps up, and latency is measured from the due time;
//   - closed (Config.Concurrency): N workers each send the next request as
//     soon as the previous one completes.
//
// The package owns the schedule, the workers that carry it out, the
// classification of every attempt into an Outcome, the attribution of
// responses to pods, and the recording of all of it. It is cut at four
// seams, each small and tested on its own:
//
//   - Pacer says when each request of the open model is due (pacer.go);
//     the dispatcher (dispatch.go) hands due requests to workers on a
//     clock that sleeps through the netpoller and spins the last
//     microseconds (clock*.go).
//   - Transport and Conn are the wire (transport.go): a worker owns one
//     Conn and sends one request at a time on it, nothing retries behind
//     its back, and the response comes back as status, identity headers,
//     the body's first 4 KiB, byte counts and a classified error. HTTP/1.1
//     over TCP or TLS is the built-in implementation (http1*.go: fasthttp
//     formats requests and parses headers there and nowhere else); HTTP/2
//     (http2.go, and h2mux.go when a connection carries several requests
//     at once) and gRPC unary calls over it (grpc*.go) are the others;
//     the body is streamed, never held (body.go).
//   - recorder is each worker's private, lock-free record of what its
//     requests did (recorder.go); a collector goroutine builds the
//     per-second series from finished seconds (collector.go, sechist.go),
//     and the records are merged into Stats when the run ends.
//   - Stats is the result (stats.go), and Stats.Merge combines the Stats
//     of engines that ran at once (merge.go): engines given the same
//     Config.Start share a time base, and Config.Shard splits one schedule
//     between them.
//
// worker.go ties them together: it schedules a request on its connection,
// attributes the response to a pod (identity.go) and records it.
package loadgen
