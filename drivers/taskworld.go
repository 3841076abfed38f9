package drivers

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// CPUSet formats reserved cores as a cpuset list ("0,2,3"); "" for none.
func CPUSet(cores []uint16) string {
	if len(cores) == 0 {
		return ""
	}
	s := make([]string, len(cores))
	for i, c := range cores {
		s[i] = strconv.Itoa(int(c))
	}
	return strings.Join(s, ",")
}

// NetNSPath is the network namespace the task must join, "" for the
// host's.
func (c *TaskConfig) NetNSPath() string {
	if n := c.NetworkIsolation; n != nil && n.Mode == NetIsolationModeGroup {
		return n.Path
	}
	return ""
}

// CheckNetworkIsolation refuses a network isolation spec a process-based
// driver cannot honour: an unknown mode, or a group namespace without a
// path.
func (c *TaskConfig) CheckNetworkIsolation() error {
	n := c.NetworkIsolation
	if n == nil {
		return nil
	}
	switch n.Mode {
	case "", NetIsolationModeHost:
		return nil
	case NetIsolationModeGroup:
		if n.Path == "" {
			return errors.New("group network namespace without a path")
		}
		return nil
	}
	return fmt.Errorf("unknown network isolation mode %q", n.Mode)
}
