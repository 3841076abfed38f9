package docker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/structs"
)

// Fingerprint implements drivers.Driver. It is cheap when the daemon is
// down (one ping with a short timeout) because the client calls it
// periodically.
func (d *Driver) Fingerprint(ctx context.Context) *structs.DriverInfo {
	ctx, cancel := context.WithTimeout(ctx, fingerprintTimeout)
	defer cancel()
	now := time.Now().UTC().Format(time.RFC3339)

	if _, err := d.client.Ping(ctx); err != nil {
		d.fpMu.Lock()
		detected := d.detected
		d.fpMu.Unlock()
		return &structs.DriverInfo{
			Attributes:        map[string]string{},
			Detected:          detected,
			Healthy:           false,
			HealthDescription: fmt.Sprintf("Docker daemon unreachable at %s: %v", d.client.DaemonHost(), err),
			UpdateTime:        now,
		}
	}

	attrs := map[string]string{"driver.docker": "1"}
	if v, err := d.client.ServerVersion(ctx); err == nil {
		attrs["driver.docker.version"] = v.Version
		attrs["driver.docker.os_type"] = v.Os
	}
	if info, err := d.client.Info(ctx); err == nil {
		if info.OSType != "" {
			attrs["driver.docker.os_type"] = info.OSType
		}
		names := make([]string, 0, len(info.Runtimes))
		for n := range info.Runtimes {
			names = append(names, n)
		}
		sort.Strings(names)
		attrs["driver.docker.runtimes"] = strings.Join(names, ",")
	}
	// Like Nomad, the attribute exists only when privileged tasks are
	// allowed, so constraints can test for it with is_set.
	if d.cfg.AllowPrivileged {
		attrs["driver.docker.privileged.enabled"] = "true"
	}

	d.fpMu.Lock()
	d.detected = true
	d.fpMu.Unlock()
	return &structs.DriverInfo{
		Attributes:        attrs,
		Detected:          true,
		Healthy:           true,
		HealthDescription: "Healthy",
		UpdateTime:        now,
	}
}
