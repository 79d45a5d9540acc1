package rollout

import (
	"errors"
	"fmt"
	"strings"
)

// ActionKind says how a rollout is started. The values are part of the
// rolltest/v1 result schema (rollout.kind).
type ActionKind string

// Action kinds.
const (
	// ActionRestart does what `kubectl rollout restart` does: it stamps the
	// pod template with the kubectl.kubernetes.io/restartedAt annotation,
	// so every pod is replaced by an identical one.
	ActionRestart ActionKind = "restart"
	// ActionImage does what `kubectl set image` does for one container: the
	// new pods run a new version.
	ActionImage ActionKind = "image"
	// ActionWatch starts nothing: the driver waits for someone else (a CD
	// pipeline, a colleague with kubectl) to change the pod template and
	// observes that rollout.
	ActionWatch ActionKind = "watch"
	// ActionSimulated is the local simulator's rollout (`rolltest demo`),
	// a restart or new image of pods that belong to no cluster.
	ActionSimulated ActionKind = "sim"
)

// Action is how a driver starts the rollout.
type Action struct {
	Kind ActionKind
	// Container and Image are the container to change and its new image,
	// for ActionImage only.
	Container, Image string
}

// ParseAction reads "restart", "watch" or "image=CONTAINER=IMAGE" (the
// arguments of `kubectl set image`, joined by "=").
func ParseAction(s string) (Action, error) {
	switch {
	case s == string(ActionRestart):
		return Action{Kind: ActionRestart}, nil
	case s == string(ActionWatch):
		return Action{Kind: ActionWatch}, nil
	case strings.HasPrefix(s, string(ActionImage)+"="):
		container, image, _ := strings.Cut(strings.TrimPrefix(s, string(ActionImage)+"="), "=")
		a := Action{Kind: ActionImage, Container: container, Image: image}
		if err := a.Validate(); err != nil {
			return Action{}, err
		}
		return a, nil
	}
	return Action{}, fmt.Errorf("%q is not one of restart, image=CONTAINER=IMAGE, watch", s)
}

// Validate checks that the action is one a Kubernetes driver can carry
// out; the zero Action is not.
func (a Action) Validate() error {
	switch a.Kind {
	case ActionRestart, ActionWatch:
		if a.Container != "" || a.Image != "" {
			return fmt.Errorf("a %s names no container or image (got %q=%q)", a.Kind, a.Container, a.Image)
		}
		return nil
	case ActionImage:
		if a.Container == "" || a.Image == "" {
			return errors.New("an image rollout needs CONTAINER=IMAGE, e.g. image=app=registry/app:v2")
		}
		return nil
	case "":
		return errors.New("no rollout action given: want restart, image=CONTAINER=IMAGE or watch")
	}
	return fmt.Errorf("unknown rollout action %q: want restart, image=CONTAINER=IMAGE or watch", a.Kind)
}

// String is the action as ParseAction reads it.
func (a Action) String() string {
	if a.Kind == ActionImage {
		return string(a.Kind) + "=" + a.Container + "=" + a.Image
	}
	return string(a.Kind)
}
