//go:build !unix

package loadgen

import "time"

// processCPU is unknown here: the generator never counts as saturated.
func processCPU() time.Duration { return 0 }
