//go:build !linux

package drivers

import "errors"

// SpawnIn runs start; namespaces and core pinning need Linux.
func SpawnIn(netns string, cores []uint16, start func() error) error {
	if netns != "" || len(cores) > 0 {
		return errors.New("network namespaces and core pinning need Linux")
	}
	return start()
}
