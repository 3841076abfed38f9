package agent

import (
	"fmt"
	"time"

	"github.com/orch-project/orch/structs"
)

// autopilotBlock is the agent's `autopilot { ... }` block (Nomad's). It
// seeds the cluster's autopilot configuration the first time a leader
// finds none in Raft; later changes go through
// /v1/operator/autopilot/configuration. Nomad Enterprise's settings
// (enable_redundancy_zones, disable_upgrade_migration,
// enable_custom_upgrades) are not accepted: orch has none of them.
type autopilotBlock struct {
	CleanupDeadServers      *bool   `hcl:"cleanup_dead_servers"`
	LastContactThreshold    *string `hcl:"last_contact_threshold"`
	MaxTrailingLogs         *int    `hcl:"max_trailing_logs"`
	MinQuorum               *int    `hcl:"min_quorum"`
	ServerStabilizationTime *string `hcl:"server_stabilization_time"`
}

func (c *Config) applyAutopilotBlock(b *autopilotBlock) error {
	if b == nil {
		return nil
	}
	ap := structs.DefaultAutopilotConfig()
	if c.Autopilot != nil {
		ap = c.Autopilot
	}
	if b.CleanupDeadServers != nil {
		ap.CleanupDeadServers = *b.CleanupDeadServers
	}
	for _, d := range []struct {
		name string
		v    *string
		dst  *time.Duration
	}{{"last_contact_threshold", b.LastContactThreshold, &ap.LastContactThreshold},
		{"server_stabilization_time", b.ServerStabilizationTime, &ap.ServerStabilizationTime}} {
		if d.v == nil {
			continue
		}
		dur, err := time.ParseDuration(*d.v)
		if err != nil || dur < 0 {
			return fmt.Errorf("autopilot.%s: invalid duration %q", d.name, *d.v)
		}
		*d.dst = dur
	}
	if v := b.MaxTrailingLogs; v != nil {
		if *v < 0 {
			return fmt.Errorf("autopilot.max_trailing_logs: must not be negative")
		}
		ap.MaxTrailingLogs = uint64(*v)
	}
	if v := b.MinQuorum; v != nil {
		if *v < 0 {
			return fmt.Errorf("autopilot.min_quorum: must not be negative")
		}
		ap.MinQuorum = uint(*v)
	}
	c.Autopilot = ap
	return nil
}
