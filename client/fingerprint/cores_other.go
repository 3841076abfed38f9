//go:build !linux

package fingerprint

func usableCores() []uint16 { return nil }
