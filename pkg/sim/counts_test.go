package sim

import (
	"testing"
)

// TestPodCounts rolls the cluster under load and holds each pod's own
// counts against what the clients received: every 200 a client read names
// its pod, and each pod's count of 2xx responses written must be exactly
// the number of 200s that name it (the safe setup loses none in flight).
func TestPodCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("rolls a simulated cluster")
	}
	c := startCluster(t, fastConfig(t))
	samples, _, status := rollUnderLoad(t, c, 150, 15)
	if !status.Done {
		t.Fatalf("rollout: %+v", status)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	okByPod := map[string]int64{}
	var responses int64
	for _, s := range samples {
		if s.err == nil {
			responses++
		}
		if s.code == 200 {
			okByPod[s.pod()]++
		}
	}
	counts := c.PodCounts()
	if len(counts) < 4 {
		t.Fatalf("%d pods counted, want 2 old and 2 new", len(counts))
	}
	var received int64
	versions := map[string]bool{}
	for _, pc := range counts {
		received += pc.Traffic.Received
		versions[pc.Version] = true
		if pc.Traffic.Written.S2xx != okByPod[pc.Pod] {
			t.Errorf("pod %s wrote %d 2xx, clients read %d", pc.Pod, pc.Traffic.Written.S2xx, okByPod[pc.Pod])
		}
		delete(okByPod, pc.Pod)
		if pc.Traffic.InFlight != 0 || pc.Probes.InFlight != 0 || pc.Connections.Open != 0 {
			t.Errorf("pod %s: counts not final after Close: %+v", pc.Pod, pc)
		}
		if pc.Probes.Received == 0 {
			t.Errorf("pod %s: no readiness probe counted", pc.Pod)
		}
	}
	if len(okByPod) != 0 {
		t.Errorf("clients read 200s from pods without counts: %v", okByPod)
	}
	if received < responses {
		t.Errorf("pods received %d requests, clients read %d responses", received, responses)
	}
	if !versions["v1"] || !versions["v2"] {
		t.Errorf("versions %v, want v1 and v2", versions)
	}
	t.Logf("%d samples, %s", len(samples), summary(samples))
}
