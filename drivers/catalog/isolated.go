package catalog

import (
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/docker"
	"github.com/orch-project/orch/drivers/exec"
	"github.com/orch-project/orch/drivers/java"
)

// Exec builds the exec driver (libcontainer isolation). It is always
// built; its fingerprint says whether isolation is available here.
var Exec = Factory{
	Name: exec.Name,
	New: func(c Config) (drivers.Driver, error) {
		return exec.New(exec.Config{Logger: c.Logger, StateRoot: c.StateDir(exec.Name)}), nil
	},
}

// Docker builds the docker driver from the client options
// (docker.endpoint, docker.privileged.enabled, docker.image_pull_timeout).
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
var Java = Factory{
	Name: java.Name,
	New: func(c Config) (drivers.Driver, error) {
		return java.New(java.Config{Logger: c.Logger, StateRoot: c.StateDir(java.Name)}), nil
	},
}
