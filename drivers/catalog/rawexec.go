package catalog

import (
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/identity"
	"github.com/orch-project/orch/drivers/rawexec"
)

// RawExec builds the raw_exec driver. It runs tasks unisolated, so it is
// enabled only by the option "driver.raw_exec.enable" (Nomad's legacy
// client option; the agent sets it in -dev mode). Options: raw_exec's
// denied_host_uids/gids, and user.denylist/group.denylist when
// user.checked_drivers names raw_exec.
var RawExec = Factory{
	Name: rawexec.Name,
	New: func(c Config) (drivers.Driver, error) {
		on := c.Bool("driver.raw_exec.enable", false) || c.Bool("driver.raw_exec.enabled", false)
		policy, err := identity.PolicyFromOptions(rawexec.Name, c.Options)
		if err != nil {
			return nil, err
		}
		return rawexec.New(rawexec.Config{Enabled: on, Logger: c.Logger, StateDir: c.StateDir(rawexec.Name), Policy: policy}), nil
	},
}
