package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// TestIdentityRuleReported: the rule a run read pods with reaches the
// document and the text's load line, and a run in which auto found none
// says what it tried and how to tell it.
func TestIdentityRuleReported(t *testing.T) {
	tests := []struct {
		name, identity, rule string
		named                bool // a pod was named
		line                 string
		hint                 string // in the no_pod_identity hint; "" for no hint
	}{
		{name: "auto settled", identity: "auto", rule: "json:hostname", named: true, line: "identity auto → json:hostname"},
		{name: "auto found none", identity: "auto", line: "identity auto → no rule named a pod", hint: "json:hostname"},
		{name: "fixed identity", identity: "header:X-Pod", rule: "header:X-Pod", named: true, line: "identity header:X-Pod"},
		{name: "fixed identity found none", identity: "line", rule: "line", line: "identity line", hint: "With --identity line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			pods := []loadgen.PodStats{{FirstOK: -1}}
			if tt.named {
				pods = append(pods, loadgen.PodStats{PodIdentity: loadgen.PodIdentity{Pod: "web-1"}})
			}
			last := &pods[len(pods)-1]
			last.Outcomes[loadgen.OK] = 10
			var sec loadgen.SecondStats
			sec.Outcomes[loadgen.OK] = 10
			sec.ByPod = map[int]int64{len(pods) - 1: 10}
			st := &loadgen.Stats{Start: start, SendEnd: 900 * time.Millisecond, End: time.Second,
				Latency: hdrhistogram.New(1, 10_000_000, 3), Pods: pods, Seconds: []loadgen.SecondStats{sec}, IdentityRule: tt.rule}
			st.Counts.Outcomes[loadgen.OK] = 10
			r := Build(Input{Config: Config{Mode: "concurrency", Concurrency: 1, KeepAlive: true, Identity: tt.identity}, Stats: st})
			Diagnose(r)
			Judge(r)
			if r.Config.IdentityRule != tt.rule {
				t.Errorf("config.identity_rule %q, want %q", r.Config.IdentityRule, tt.rule)
			}
			var out bytes.Buffer
			if err := WriteText(&out, r, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if load := strings.Split(out.String(), "\n")[1]; !strings.HasSuffix(load, tt.line) {
				t.Errorf("load line %q does not end in %q", load, tt.line)
			}
			var hint *Hint
			for i := range r.Diagnosis {
				if r.Diagnosis[i].Code == HintNoIdentity {
					hint = &r.Diagnosis[i]
				}
			}
			switch {
			case tt.hint == "" && hint != nil:
				t.Errorf("unexpected hint %+v", hint)
			case tt.hint != "" && hint == nil:
				t.Errorf("no %s hint in %+v", HintNoIdentity, r.Diagnosis)
			case hint != nil && (!strings.Contains(hint.Detail, tt.hint) || !strings.Contains(hint.Fix, "--identity header:NAME")):
				t.Errorf("hint %+v does not say %q and how to set --identity", hint, tt.hint)
			}
		})
	}
}
