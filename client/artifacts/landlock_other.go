//go:build !linux

package artifacts

import "errors"

// IsolationAvailable reports whether fetches can be confined here: never
// outside Linux.
func IsolationAvailable() bool { return false }

func confine(string, []string) error { return errors.New("filesystem isolation needs Linux") }
