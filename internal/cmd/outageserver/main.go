// Command outageserver is a loopback server with one outage, for
// bench/stall.sh: it answers 200 except from -after to -after+-for after it
// starts, when it holds every response until the outage ends (-mode hold),
// answers nothing (hang), or also lets connects hang (blackhole). It prints
// its URL on one line, and on INT, TERM or -max-duration its counts as one
// JSON line, then exits.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rolltest/rolltest/internal/faultserver"
)

func main() {
	mode := flag.String("mode", "hold", "hold (answer when the outage ends), hang (never answer) or blackhole (connects hang too)")
	after := flag.Duration("after", 2*time.Second, "when the outage starts, from the server's start")
	length := flag.Duration("for", 3*time.Second, "how long the outage lasts")
	maxDur := flag.Duration("max-duration", 5*time.Minute, "exit after this long whatever happens")
	clientTimeout := flag.Duration("client-timeout", 0, "the clients' timeout: held responses written later than this after their request arrived are counted as late")
	flag.Parse()
	modes := map[string]faultserver.OutageMode{"hold": faultserver.Hold, "hang": faultserver.Hang, "blackhole": faultserver.Blackhole}
	m, ok := modes[*mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "outageserver: unknown -mode %q (hold, hang or blackhole)\n", *mode)
		os.Exit(2)
	}
	srv, err := faultserver.StartOutage(m, *after, *length, "bench-pod-1")
	if err != nil {
		fmt.Fprintln(os.Stderr, "outageserver:", err)
		os.Exit(1)
	}
	srv.ClientTimeout = *clientTimeout
	fmt.Println(srv.URL("/"))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-stop:
	case <-time.After(*maxDur):
	}
	c := srv.Counts()
	srv.Close()
	_ = json.NewEncoder(os.Stdout).Encode(map[string]int{
		"served": c.ServedTotal, "held": c.HeldTotal, "late": c.LateTotal, "stalled": len(c.Stalled), "queued": c.Queued, "accepted": c.Accepted,
	})
}
