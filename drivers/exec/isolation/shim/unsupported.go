//go:build !(linux && cgo)

package shim

// Available reports whether this build carries the shim.
const Available = false
