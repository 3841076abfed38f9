//go:build !linux || !cgo

package logmon

// Available reports whether this build carries the monitor: not without
// Linux and cgo, where the client collects task output in process.
const Available = false
