package catalog

import (
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/docker"
	"github.com/orch-project/orch/drivers/exec"
	"github.com/orch-project/orch/drivers/java"
)

// Exec builds the exec driver (libcontainer isolation). It is always
// built (unless its options are malformed); its fingerprint says whether
// isolation is available here. Options: user.denylist, group.denylist,
// user.checked_drivers, exec.denied_host_uids/gids, exec.caps.allowlist.
var Exec = Factory{
	Name: exec.Name,
	New: func(c Config) (drivers.Driver, error) {
		policy, err := exec.PolicyFromOptions(exec.Name, c.Options)
		if err != nil {
			return nil, err
		}
		return exec.New(exec.Config{Logger: c.Logger, StateRoot: c.StateDir(exec.Name), Policy: policy}), nil
	},
}

// Docker builds the docker driver from the client options
// (docker.endpoint, docker.privileged.enabled, docker.image_pull_timeout,
// docker.volumes.enabled, docker.caps.allowlist).
// It does not contact the daemon here: its fingerprint reports health.
var Docker = Factory{
	Name: docker.Name,
	New: func(c Config) (drivers.Driver, error) {
		cfg, err := docker.ConfigFromOptions(c.Options)
		if err != nil {
			return nil, err
		}
		cfg.Logger = c.Logger
		cfg.NodeID = c.NodeID
		cfg.StateDir = c.StateDir(docker.Name)
		return docker.New(cfg)
	},
}

// Java builds the java driver; without a JVM it fingerprints undetected.
// Options: user.denylist, group.denylist, user.checked_drivers,
// java.denied_host_uids/gids.
var Java = Factory{
	Name: java.Name,
	New: func(c Config) (drivers.Driver, error) {
		policy, err := exec.PolicyFromOptions(java.Name, c.Options)
		if err != nil {
			return nil, err
		}
		return java.New(java.Config{Logger: c.Logger, StateRoot: c.StateDir(java.Name), Policy: policy}), nil
	},
}
