package docker

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/drivers/identity"
)

// Client option keys (the agent's `client { options }`), spelled as Nomad
// spells the docker plugin's legacy options.
const (
	OptionEndpoint    = "docker.endpoint"
	OptionPrivileged  = "docker.privileged.enabled"
	OptionPullTimeout = "docker.image_pull_timeout"
	// OptionVolumesEnabled (default false) lets tasks bind host paths.
	OptionVolumesEnabled = "docker.volumes.enabled"
	// OptionCapAllowlist is the comma-separated cap_add allowlist
	// (default DefaultCapAllowlist; "all" allows any).
	OptionCapAllowlist = "docker.caps.allowlist"
	// OptionRuntimes is the comma-separated allowlist of container
	// runtimes a task may ask for (Nomad's allow_runtimes; default
	// DefaultRuntimes).
	OptionRuntimes = "docker.runtimes.allowlist"
	// OptionDevicesEnabled (default false) lets tasks map host devices
	// with `devices`: a device node is as good as root on the host, so
	// the operator opts in, as for host volumes.
	OptionDevicesEnabled = "docker.devices.enabled"
	// OptionInfraImage is the sandbox image of group network namespaces
	// (the plugin's infra_image).
	OptionInfraImage = "docker.infra_image"
)

// DefaultRuntimes are the runtimes allowed when the option is unset.
var DefaultRuntimes = []string{"runc", "nvidia"}

// ConfigFromOptions reads the driver's client options into a Config; the
// caller adds NodeID, StateDir and Logger.
func ConfigFromOptions(opts map[string]string) (Config, error) {
	var c Config
	c.Endpoint = strings.TrimSpace(opts[OptionEndpoint])
	if v, ok := opts[OptionPrivileged]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return Config{}, fmt.Errorf("option %s: %w", OptionPrivileged, err)
		}
		c.AllowPrivileged = b
	}
	if v, ok := opts[OptionVolumesEnabled]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return Config{}, fmt.Errorf("option %s: %w", OptionVolumesEnabled, err)
		}
		c.VolumesEnabled = b
	}
	if v, ok := opts[OptionCapAllowlist]; ok {
		// An empty allowlist is a valid choice: no cap_add at all.
		c.CapAllowlist = parseCapAllowlist(v)
		if c.CapAllowlist == nil {
			c.CapAllowlist = []string{}
		}
	}
	if v, ok := opts[OptionRuntimes]; ok {
		c.Runtimes = []string{}
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				c.Runtimes = append(c.Runtimes, r)
			}
		}
	}
	if v, ok := opts[OptionDevicesEnabled]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return Config{}, fmt.Errorf("option %s: %w", OptionDevicesEnabled, err)
		}
		c.DevicesEnabled = b
	}
	c.InfraImage = strings.TrimSpace(opts[OptionInfraImage])
	var err error
	if c.Policy, err = identity.PolicyFromOptions(Name, opts); err != nil {
		return Config{}, err
	}
	if v, ok := opts[OptionPullTimeout]; ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("option %s: %q is not a positive duration", OptionPullTimeout, v)
		}
		c.PullTimeout = d
	}
	return c, nil
}
