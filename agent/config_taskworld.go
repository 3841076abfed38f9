package agent

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orch-project/orch/client/artifacts"

	"github.com/orch-project/orch/structs"
)

// The client settings for what tasks get beyond their process: host
// volumes (and, below, artifacts and networking).

// hostNetworkBlock is Nomad's client `host_network "name" {}` block.
type hostNetworkBlock struct {
	Name          string  `hcl:"name,label"`
	CIDR          *string `hcl:"cidr"`
	Interface     *string `hcl:"interface"`
	ReservedPorts *string `hcl:"reserved_ports"`
}

type hostVolumeBlock struct {
	Name     string `hcl:"name,label"`
	Path     string `hcl:"path"`
	ReadOnly *bool  `hcl:"read_only"`
}

// artifactBlock is Nomad's client `artifact {}` block.
type artifactBlock struct {
	HTTPReadTimeout               *string  `hcl:"http_read_timeout"`
	HTTPMaxSize                   *string  `hcl:"http_max_size"`
	GCSTimeout                    *string  `hcl:"gcs_timeout"`
	GitTimeout                    *string  `hcl:"git_timeout"`
	HgTimeout                     *string  `hcl:"hg_timeout"`
	S3Timeout                     *string  `hcl:"s3_timeout"`
	DecompressionSizeLimit        *string  `hcl:"decompression_size_limit"`
	DecompressionFileCountLimit   *int     `hcl:"decompression_file_count_limit"`
	DisableFilesystemIsolation    *bool    `hcl:"disable_filesystem_isolation"`
	FilesystemIsolationExtraPaths []string `hcl:"filesystem_isolation_extra_paths,optional"`
	SetEnvironmentVariables       *string  `hcl:"set_environment_variables"`
}

func (c *Config) applyArtifactBlock(b *artifactBlock) error {
	if b == nil {
		return nil
	}
	a := artifacts.DefaultConfig()
	if c.Artifacts != nil {
		a = *c.Artifacts
	}
	for _, d := range []struct {
		name string
		v    *string
		dst  *time.Duration
	}{{"http_read_timeout", b.HTTPReadTimeout, &a.HTTPReadTimeout}, {"git_timeout", b.GitTimeout, &a.GitTimeout},
		{"hg_timeout", b.HgTimeout, &a.HgTimeout}, {"gcs_timeout", b.GCSTimeout, nil}, {"s3_timeout", b.S3Timeout, nil}} {
		if d.v == nil {
			continue
		}
		dur, err := time.ParseDuration(*d.v)
		if err != nil || dur < 0 {
			return fmt.Errorf("client artifact %s: invalid duration %q", d.name, *d.v)
		}
		// gcs and s3 sources are refused (no cloud SDKs): their timeouts
		// are accepted so Nomad configs load, and bound nothing.
		if d.dst != nil {
			*d.dst = dur
		}
	}
	for _, d := range []struct {
		name string
		v    *string
		dst  *int64
	}{{"http_max_size", b.HTTPMaxSize, &a.HTTPMaxBytes}, {"decompression_size_limit", b.DecompressionSizeLimit, &a.DecompressionSizeLimit}} {
		if d.v == nil {
			continue
		}
		n, err := artifacts.ParseSize(*d.v)
		if err != nil {
			return fmt.Errorf("client artifact %s: %w", d.name, err)
		}
		*d.dst = n
	}
	if v := b.DecompressionFileCountLimit; v != nil {
		if *v < 0 {
			return fmt.Errorf("client artifact decompression_file_count_limit must not be negative")
		}
		a.DecompressionFileCountLimit = *v
	}
	if b.DisableFilesystemIsolation != nil {
		a.DisableFilesystemIsolation = *b.DisableFilesystemIsolation
	}
	for _, p := range b.FilesystemIsolationExtraPaths {
		// Nomad's form is "<perm>:<path>"; the sandbox offers read only.
		perm, path, ok := strings.Cut(p, ":")
		if !ok || perm != "r" && perm != "rx" || !filepath.IsAbs(path) {
			return fmt.Errorf("client artifact filesystem_isolation_extra_paths: %q must be \"r:/absolute/path\" (the fetch may only read extra paths)", p)
		}
		a.ExtraReadPaths = append(a.ExtraReadPaths, path)
	}
	if v := b.SetEnvironmentVariables; v != nil {
		for _, k := range strings.Split(*v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				a.SetEnvironmentVariables = append(a.SetEnvironmentVariables, k)
			}
		}
	}
	c.Artifacts = &a
	return nil
}

func (c *Config) applyClientTaskWorld(cl *clientBlock) error {
	if err := c.applyArtifactBlock(cl.Artifact); err != nil {
		return err
	}
	if err := c.applyNetwork(cl); err != nil {
		return err
	}
	for _, hn := range cl.HostNetworks {
		n, err := hostNetwork(hn)
		if err != nil {
			return err
		}
		if c.HostNetworks == nil {
			c.HostNetworks = map[string]*structs.ClientHostNetworkConfig{}
		}
		c.HostNetworks[n.Name] = n
	}
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

// hostNetwork checks a host_network block: a name other than "default"
// (the node's own address), a valid CIDR, a plain interface name (Nomad's
// go-sockaddr templates are not supported) and a valid port list.
func hostNetwork(b *hostNetworkBlock) (*structs.ClientHostNetworkConfig, error) {
	if b.Name == "" || b.Name == structs.DefaultHostNetwork {
		return nil, fmt.Errorf("client host_network %q: a name other than %q is required", b.Name, structs.DefaultHostNetwork)
	}
	n := &structs.ClientHostNetworkConfig{Name: b.Name}
	if b.CIDR != nil {
		if _, _, err := net.ParseCIDR(*b.CIDR); err != nil {
			return nil, fmt.Errorf("client host_network %q: cidr: %w", b.Name, err)
		}
		n.CIDR = *b.CIDR
	}
	if b.Interface != nil {
		if strings.Contains(*b.Interface, "{{") {
			return nil, fmt.Errorf("client host_network %q: interface %q: templates are not supported, name the interface", b.Name, *b.Interface)
		}
		n.Interface = *b.Interface
	}
	if n.CIDR == "" && n.Interface == "" {
		return nil, fmt.Errorf("client host_network %q: cidr or interface is required", b.Name)
	}
	if b.ReservedPorts != nil {
		if _, err := structs.ParsePortList(*b.ReservedPorts); err != nil {
			return nil, fmt.Errorf("client host_network %q: reserved_ports: %w", b.Name, err)
		}
		n.ReservedPorts = *b.ReservedPorts
	}
	return n, nil
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

// applyNetwork takes Nomad's client CNI settings; they are checked here so
// a bad subnet or path stops the agent at start, with the setting's name.
func (c *Config) applyNetwork(cl *clientBlock) error {
	n := c.Network
	for _, s := range []struct {
		v   *string
		dst *string
	}{{cl.CNIPath, &n.CNIPath}, {cl.CNIConfigDir, &n.CNIConfigDir},
		{cl.BridgeNetworkName, &n.BridgeName}, {cl.BridgeNetworkSubnet, &n.BridgeSubnet}} {
		if s.v != nil {
			*s.dst = *s.v
		}
	}
	if err := n.Validate(); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	c.Network = n
	return nil
}
