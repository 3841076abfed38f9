package scheduler

import (
	"strings"

	"github.com/orch-project/orch/structs"
)

// reasonMissingNetwork prefixes the ConstraintFiltered key of a node that
// cannot give a group its network mode, followed by the mode.
const reasonMissingNetwork = "missing network: "

// networkModeCheck admits nodes that offer the group's network mode:
// bridge and cni/<name> are node networks the client fingerprints (the CNI
// plugins found in cni_path, the configurations in cni_config_dir).
// Host and none need nothing.
type networkModeCheck struct{ mode string }

func newNetworkModeCheck(tg *structs.TaskGroup) *networkModeCheck {
	if len(tg.Networks) == 0 || tg.Networks[0] == nil {
		return nil
	}
	m := tg.Networks[0].Mode
	if m != "bridge" && !strings.HasPrefix(m, "cni/") {
		return nil
	}
	return &networkModeCheck{mode: m}
}

func (*networkModeCheck) Name() string { return "NetworkMode" }

func (c *networkModeCheck) Feasible(n *structs.Node) (bool, string) {
	if n.NodeResources != nil {
		for _, nw := range n.NodeResources.Networks {
			if nw != nil && nw.Mode == c.mode {
				return true, ""
			}
		}
	}
	return false, reasonMissingNetwork + c.mode
}
