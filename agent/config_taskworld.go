package agent

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/orch-project/orch/structs"
)

// The client settings for what tasks get beyond their process: host
// volumes (and, below, artifacts and networking).

type hostVolumeBlock struct {
	Name     string `hcl:"name,label"`
	Path     string `hcl:"path"`
	ReadOnly *bool  `hcl:"read_only"`
}

func (c *Config) applyClientTaskWorld(cl *clientBlock) error {
	for _, hv := range cl.HostVolumes {
		v, err := hostVolume(hv)
		if err != nil {
			return err
		}
		if c.HostVolumes == nil {
			c.HostVolumes = map[string]*structs.ClientHostVolumeConfig{}
		}
		c.HostVolumes[v.Name] = v
	}
	return nil
}

// hostVolume checks a host_volume block. The path is the operator's (a
// task cannot change it) and must exist; links in it are resolved here,
// once, so what tasks get mounted is the path the agent checked.
func hostVolume(b *hostVolumeBlock) (*structs.ClientHostVolumeConfig, error) {
	if b.Name == "" {
		return nil, fmt.Errorf("client host_volume: a name is required")
	}
	if !filepath.IsAbs(b.Path) {
		return nil, fmt.Errorf("client host_volume %q: path %q must be absolute", b.Name, b.Path)
	}
	p, err := filepath.EvalSymlinks(b.Path)
	if err != nil {
		return nil, fmt.Errorf("client host_volume %q: path: %w", b.Name, err)
	}
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("client host_volume %q: path: %w", b.Name, err)
	}
	v := &structs.ClientHostVolumeConfig{Name: b.Name, Path: p}
	if b.ReadOnly != nil {
		v.ReadOnly = *b.ReadOnly
	}
	return v, nil
}
