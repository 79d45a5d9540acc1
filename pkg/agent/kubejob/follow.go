package kubejob

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/rolltest/rolltest/internal/ctxtime"
	"github.com/rolltest/rolltest/pkg/agent"
)

// followed is what following one agent's log came to.
type followed struct {
	index int
	final *agent.Final
	err   error
	bytes int64 // log bytes read, re-reads included
}

// podView is what the follower needs of the pod informer: the pod now,
// or nil once it is gone.
type podView func() *corev1.Pod

// reconnectEvery paces re-opening a log stream that broke while its
// container still runs.
const reconnectEvery = time.Second

// follow reads agent index's records from its pod's log until its final
// record. A stream that ends without one is re-opened from the start of
// the log while the container runs (the API server or the kubelet cut
// it; the log itself is intact); once the container has ended, one more
// whole read decides. Progress records reach onProgress once each, in
// order, whatever is read again.
func follow(ctx context.Context, cs kubernetes.Interface, ns, pod string, index int, view podView, onProgress func(*agent.Progress)) followed {
	lastSec := -1
	progress := func(p *agent.Progress) {
		if p.Sec > lastSec && onProgress != nil {
			lastSec = p.Sec
			onProgress(p)
		}
	}
	var n int64
	read := func(follow bool) (*agent.Final, error) {
		rc, err := cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: follow}).Stream(ctx)
		if err != nil {
			return nil, fmt.Errorf("agent %d: read the log of pod %s: %w", index, pod, err)
		}
		defer rc.Close()
		return agent.ReadFinal(&countingReader{r: rc, n: &n}, index, progress)
	}
	for {
		f, err := read(true)
		if err == nil {
			return followed{index: index, final: f, bytes: n}
		}
		if ctx.Err() != nil {
			return followed{index: index, err: err, bytes: n}
		}
		if apierrors.IsNotFound(err) {
			return followed{index: index, err: fmt.Errorf("agent %d: its pod %s was deleted before its results were read", index, pod), bytes: n}
		}
		p := view()
		if p == nil || ended(p) {
			// The informer may lag the container's end by a moment: one
			// more whole read holds every line the agent wrote.
			if f, err2 := read(false); err2 == nil {
				return followed{index: index, final: f, bytes: n}
			}
			why := "its pod is gone"
			if p != nil {
				why = problem(p)
			}
			return followed{index: index, err: fmt.Errorf("%w (%s)", err, why), bytes: n}
		}
		if !ctxtime.Sleep(ctx, reconnectEvery) {
			return followed{index: index, err: err, bytes: n}
		}
	}
}

// ended reports whether the agent's container has stopped for good.
func ended(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return true
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == container && cs.State.Terminated != nil {
			return true
		}
	}
	return false
}

// countingReader counts the log bytes read, for the run's cost.
type countingReader struct {
	r io.Reader
	n *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	*c.n += int64(k)
	return k, err
}
