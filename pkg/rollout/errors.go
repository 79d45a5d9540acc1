package rollout

import "fmt"

// Input is the part of a driver's configuration that a SetupError is
// about. A command line maps it to its own flag: library messages never
// name flags.
type Input string

// Inputs.
const (
	InputNamespace Input = "namespace"
	InputWorkload  Input = "workload"
	InputService   Input = "service"
	InputAction    Input = "action"
)

// SetupError reports a problem the user fixes before a rollout can be
// tested: a workload or Service that cannot be found, a paused Deployment,
// an image that would not change. A command line treats it as a usage
// error rather than a failed rollout.
type SetupError struct {
	// Input is what to change; Msg says what is wrong in one sentence.
	Input Input
	Msg   string
}

func (e *SetupError) Error() string { return e.Msg }

// SetupErrorf returns a *SetupError about in.
func SetupErrorf(in Input, format string, args ...any) error {
	return &SetupError{Input: in, Msg: fmt.Sprintf(format, args...)}
}
