package kube

import (
	"context"
	"errors"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// listWatch is how an informer lists and watches one resource in one
// namespace. The driver builds its informers from these rather than with
// client-go's generated constructors so that it sees the outcome of every
// list and watch request: a reflector retries a refused watch on its own,
// without telling its WatchErrorHandler, so that handler alone would not
// notice an API server that went away and came back.
type listWatch struct {
	obj   runtime.Object
	list  func(context.Context, metav1.ListOptions) (runtime.Object, error)
	watch func(context.Context, metav1.ListOptions) (watch.Interface, error)
}

// lwOf adapts a typed client's List and Watch.
func lwOf[L runtime.Object](obj runtime.Object, list func(context.Context, metav1.ListOptions) (L, error),
	w func(context.Context, metav1.ListOptions) (watch.Interface, error)) listWatch {
	return listWatch{
		obj: obj,
		list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l, err := list(ctx, o)
			if err != nil {
				return nil, err
			}
			return l, nil
		},
		watch: w,
	}
}

// informer builds an informer that applies tweak to every request's options
// and passes report the outcome of every list and of every watch's start
// (nil once the API server answered).
func (l listWatch) informer(tweak func(*metav1.ListOptions), report func(ctx context.Context, err error)) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			obj, err := l.list(ctx, o)
			report(ctx, err)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			w, err := l.watch(ctx, o)
			report(ctx, err)
			return w, err
		},
	}, l.obj, 0, cache.Indexers{})
}

// unreachable reports whether err means the API server could not be
// reached or could not serve (a connection refused or cut, a timeout, a
// 5xx), as opposed to an answer: throttling (429) or a refusal (4xx) shows
// that the API server is there.
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return st.Status().Code >= http.StatusInternalServerError
	}
	return true
}
