// Command bodyserver serves large or endless response bodies on loopback
// for bench/body.sh. It prints its URL on one line, then serves until it is
// signalled (INT, TERM) or -max-duration passes.
//
//	bodyserver -mode huge -bytes 50000000   # 200, Content-Length 50 MB
//	bodyserver -mode endless                # 200, a chunked body that never ends
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rolltest/rolltest/internal/faultserver"
)

func main() {
	mode := flag.String("mode", "huge", "huge (Content-Length body of -bytes) or endless (chunked, never ends)")
	size := flag.Int64("bytes", 50_000_000, "body size for -mode huge")
	firstOK := flag.Bool("first-ok", true, "answer the first request (rolltest's preflight) with a short 200: a preflight that cannot complete stops the run before it starts")
	maxDur := flag.Duration("max-duration", 10*time.Minute, "exit after this long whatever happens")
	flag.Parse()
	var action faultserver.Action
	switch *mode {
	case "huge":
		action = faultserver.HugeBody
	case "endless":
		action = faultserver.EndlessChunked
	default:
		fmt.Fprintf(os.Stderr, "bodyserver: unknown -mode %q (huge or endless)\n", *mode)
		os.Exit(2)
	}
	srv, err := faultserver.StartOptions(faultserver.Options{HugeBodyBytes: *size, HugeBodyTail: "END-OF-BODY"},
		func(n uint64) faultserver.Action {
			if n == 1 && *firstOK {
				return faultserver.Serve
			}
			return action
		}, "bench-pod-1")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bodyserver:", err)
		os.Exit(1)
	}
	fmt.Println(srv.URL("/body"))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-stop:
	case <-time.After(*maxDur):
	}
	srv.Close()
}
