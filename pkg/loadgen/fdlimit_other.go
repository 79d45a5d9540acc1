//go:build !unix

package loadgen

// RaiseFileLimit does nothing where the platform has no open-file limit to
// raise; it reports the limit as unknown.
func RaiseFileLimit() (uint64, error) { return 0, nil }

func fileLimit() uint64 { return 0 }
