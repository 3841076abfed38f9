//go:build linux && cgo

package logmon

// The monitor itself is C (logmon.c), run from a constructor before the Go
// runtime starts; importing this package links it into the binary.

import "C"

// Available reports whether this build carries the monitor.
const Available = true
