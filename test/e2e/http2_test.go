package e2e

import (
	"net/url"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// NodePorts of the HTTP/2 and gRPC tests (see safeNodePort for the band).
const (
	h2SafeNodePort   = 30100
	h2UnsafeNodePort = 30101
)

// h2Identity reads the pod and version testapp names in a header (HTTP/2)
// and in metadata (gRPC) alike.
const h2Identity = "header:X-Pod-Id,X-App-Version"

// h2Run is one protocol's way to reach testapp-grpc on a NodePort, and
// the rollout it runs.
type h2Run struct {
	name, mode string
	versions   []string
	args       func(nodeURL string) []string
}

func h2cArgs(nodeURL string) []string {
	return []string{"--target", nodeURL, "--h2c", "--identity", h2Identity, "--connections", "16"}
}

func grpcArgs(nodeURL string) []string {
	return []string{"--target", grpcTarget(nodeURL), "--identity", h2Identity, "--connections", "16"}
}

// grpcStreamsArgs multiplexes: 10 calls in flight on each of 4
// connections. A draining pod's GOAWAY names the last stream it read, and
// calls already on their way above it were never processed
// (goaway_unprocessed: 1 of 10,457 in one run): as every HTTP/2 client
// does, this run re-sends those (--retries 1), and checkSafeRun allows
// only such re-sends.
func grpcStreamsArgs(nodeURL string) []string {
	return []string{"--target", grpcTarget(nodeURL), "--identity", h2Identity, "--streams", "10", "--connections", "4", "--retries", "1"}
}

// grpcTarget is the gRPC target on the NodePort of nodeURL.
func grpcTarget(nodeURL string) string {
	u, err := url.Parse(nodeURL)
	if err != nil {
		panic(err) // deployServing's own URL
	}
	return "grpc://" + u.Host
}

// rollUnderH2 runs run's rollout of dep at 500 req/s.
func rollUnderH2(t *testing.T, ns, dep, nodeURL string, run h2Run) cliRun {
	t.Helper()
	return runRolltest(t, ns, run.name, append(run.args(nodeURL), "--deployment", dep, "--rollout-after", "5s", "--settle", "5s",
		"--rollout-timeout", "3m", "--rate", "500", "--rollout", run.mode)...)
}

// TestHTTP2SafeRollouts: the h2c and gRPC testapp, drained with GOAWAY
// and gated by native gRPC probes, rolls (restart and image change) under
// 500 req/s of h2c or gRPC without dropping anything, one stream per
// connection or ten.
func TestHTTP2SafeRollouts(t *testing.T) {
	e := begin(t, "h2-safe", withCLI)
	cs, ns, ctx := e.cs, e.ns, e.ctx
	dep, svc := manifestWorkload(t, "manifests/testapp-grpc.yaml")
	nodeURL := deployServing(ctx, t, cs, ns, dep, svc, h2SafeNodePort)
	for _, run := range []h2Run{
		{"h2c-restart", "restart", []string{"v1"}, h2cArgs},
		{"grpc-restart", "restart", []string{"v1"}, grpcArgs},
		{"grpc-streams-restart", "restart", []string{"v1"}, grpcStreamsArgs},
		{"grpc-image", "image=testapp=rolltest.local/testapp:v2", []string{"v1", "v2"}, grpcArgs},
		{"h2c-image", "image=testapp=rolltest.local/testapp:v1", []string{"v1", "v2"}, h2cArgs},
	} {
		r := rollUnderH2(t, ns, dep.Name, nodeURL, run)
		res := requireDocument(t, r)
		t.Logf("%s: protocol %s streams %d connections %d (opened %d)", run.name, res.Config.Protocol, res.Config.Streams, res.Config.Connections, res.Totals.Connections)
		ok := checkSafeRun(t, run.name, r, res, run.versions, 2)
		ok = checkWorkload(t, res, rollout.Workload{Kind: rollout.KindDeployment, Namespace: ns, Name: dep.Name, Service: svc.Name}) && ok
		if !checkConsistency(t, res) || !ok {
			logDigest(t, r)
			t.FailNow()
		}
	}
}

// TestHTTP2UnsafeRolloutsAreCaught: the same app without probes or
// draining, closing its connections without GOAWAY on SIGTERM: h2c and
// gRPC runs both fail with the drops attributed to pods.
func TestHTTP2UnsafeRolloutsAreCaught(t *testing.T) {
	e := begin(t, "h2-unsafe", withCLI)
	cs, ns, ctx := e.cs, e.ns, e.ctx
	dep, svc := manifestWorkload(t, "manifests/testapp-grpc-unsafe.yaml")
	nodeURL := deployServing(ctx, t, cs, ns, dep, svc, h2UnsafeNodePort)
	for _, run := range []h2Run{
		{"h2c", "restart", nil, h2cArgs},
		{"grpc", "restart", nil, grpcArgs},
	} {
		r := rollUnderH2(t, ns, dep.Name, nodeURL, run)
		res := requireDocument(t, r)
		tot := res.Totals
		attributed := attributedToPods(res)
		t.Logf("%s: exit %d, requests %d failed %d outcomes %v; %d of %d failure records attributed to a pod; hints %v",
			run.name, r.exit, tot.Requests, tot.Failed, nonZero(tot.Outcomes), attributed, len(res.Failures.Records), res.HintCodes())
		checkConsistency(t, res)
		if r.exit != 1 || res.Verdict.ExitCode != 1 {
			t.Errorf("%s: exit %d (verdict %d), want 1: requests dropped", run.name, r.exit, res.Verdict.ExitCode)
		}
		if tot.Failed == 0 || attributed == 0 {
			t.Errorf("%s: %d dropped, %d attributed: want drops, attributed to pods", run.name, tot.Failed, attributed)
		}
		if res.Rollout == nil || !res.Rollout.Done {
			t.Errorf("%s: rollout %+v, want done", run.name, res.Rollout)
		}
		// On HTTP/2 the HTTP/1.1 no-drain hint gives way to the two
		// HTTP/2 close hints (report.Diagnose), so those are the flaws to
		// look for besides the probes' and preStop's.
		if !res.HasHint(report.HintHTTP2CloseWithoutGoAway, report.HintHTTP2GoAwayWithoutDrain, report.HintTrafficBeforeReady, report.HintPreStopTooShort) {
			t.Errorf("%s: hints %v name no rollout flaw", run.name, res.HintCodes())
		}
		if t.Failed() {
			logDigest(t, r)
			t.FailNow()
		}
	}
}
