package agent

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// BenchmarkDecodeMerge100 is the controller's work at the end of a run of
// 100 agents: decode 100 final records from their streams and merge them.
// Each record is a real engine's, 5 s at 1000 req/s against a loopback
// server whose latency spreads over 0–20 ms (a wide histogram, as a
// rollout's is).
func BenchmarkDecodeMerge100(b *testing.B) {
	const agents = 100
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(n.Add(1)*7919%20000) * time.Microsecond)
		w.Write([]byte("pod-a >> 127.0.0.1 >> v1"))
	}))
	defer srv.Close()
	eng, err := loadgen.New(b.Context(), loadgen.Config{Target: srv.URL + "/", Rate: 1000, Duration: 5 * time.Second, Connections: 64, KeepAlive: true,
		Start: time.Now().Add(100 * time.Millisecond)})
	if err != nil {
		b.Fatal(err)
	}
	st, err := eng.Run(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	streams := make([][]byte, agents)
	for i := range streams {
		var buf bytes.Buffer
		f := NewFinal(i, "pod", false, st)
		if _, err := Write(&buf, &f); err != nil {
			b.Fatal(err)
		}
		streams[i] = buf.Bytes()
	}
	for b.Loop() {
		finals := make([]*Final, agents)
		for i, s := range streams {
			f, err := ReadFinal(bytes.NewReader(s), i, nil)
			if err != nil {
				b.Fatal(err)
			}
			finals[i] = f
		}
		if _, _, err := Merge(finals); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(streams[0])), "bytes/final")
}
