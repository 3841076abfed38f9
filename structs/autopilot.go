package structs

import (
	"encoding/json"
	"fmt"
	"time"
)

// AutopilotConfig is the cluster's autopilot configuration, as Nomad's
// /v1/operator/autopilot/configuration (durations as strings in JSON). It
// lives in Raft; the agent's autopilot {} block seeds it.
type AutopilotConfig struct {
	// CleanupDeadServers removes servers that failed or left from the Raft
	// configuration.
	CleanupDeadServers bool
	// LastContactThreshold is how long a server may go without contact
	// from the leader before it counts as unhealthy.
	LastContactThreshold time.Duration
	// MaxTrailingLogs is how many entries a server may trail the leader's
	// log by before it counts as unhealthy.
	MaxTrailingLogs uint64
	// MinQuorum is the fewest voters cleanup may leave.
	MinQuorum uint
	// ServerStabilizationTime is how long a new server must be healthy
	// before it becomes a voter.
	ServerStabilizationTime time.Duration
	// Enterprise-only in Nomad; orch refuses true.
	EnableRedundancyZones   bool
	DisableUpgradeMigration bool
	EnableCustomUpgrades    bool

	CreateIndex uint64
	ModifyIndex uint64
}

// DefaultAutopilotConfig is Nomad's default.
func DefaultAutopilotConfig() *AutopilotConfig {
	return &AutopilotConfig{
		CleanupDeadServers: true, LastContactThreshold: 200 * time.Millisecond,
		MaxTrailingLogs: 250, ServerStabilizationTime: 10 * time.Second,
	}
}

// Validate refuses values autopilot cannot honour.
func (c *AutopilotConfig) Validate() error {
	switch {
	case c.LastContactThreshold < 0:
		return fmt.Errorf("LastContactThreshold must not be negative")
	case c.ServerStabilizationTime < 0:
		return fmt.Errorf("ServerStabilizationTime must not be negative")
	case c.EnableRedundancyZones:
		return fmt.Errorf("EnableRedundancyZones is a Nomad Enterprise feature orch does not have")
	case c.DisableUpgradeMigration:
		return fmt.Errorf("DisableUpgradeMigration is a Nomad Enterprise feature orch does not have")
	case c.EnableCustomUpgrades:
		return fmt.Errorf("EnableCustomUpgrades is a Nomad Enterprise feature orch does not have")
	}
	return nil
}

type autopilotConfigJSON struct {
	CleanupDeadServers      bool
	LastContactThreshold    string
	MaxTrailingLogs         uint64
	MinQuorum               uint
	ServerStabilizationTime string
	EnableRedundancyZones   bool
	DisableUpgradeMigration bool
	EnableCustomUpgrades    bool
	CreateIndex             uint64
	ModifyIndex             uint64
}

func (c *AutopilotConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(autopilotConfigJSON{
		CleanupDeadServers: c.CleanupDeadServers, LastContactThreshold: c.LastContactThreshold.String(),
		MaxTrailingLogs: c.MaxTrailingLogs, MinQuorum: c.MinQuorum,
		ServerStabilizationTime: c.ServerStabilizationTime.String(), EnableRedundancyZones: c.EnableRedundancyZones,
		DisableUpgradeMigration: c.DisableUpgradeMigration, EnableCustomUpgrades: c.EnableCustomUpgrades,
		CreateIndex: c.CreateIndex, ModifyIndex: c.ModifyIndex,
	})
}

// UnmarshalJSON takes durations as Go duration strings, as Nomad's API
// sends them; an absent duration keeps the receiver's value.
func (c *AutopilotConfig) UnmarshalJSON(b []byte) error {
	aux := autopilotConfigJSON{
		CleanupDeadServers: c.CleanupDeadServers, MaxTrailingLogs: c.MaxTrailingLogs, MinQuorum: c.MinQuorum,
		EnableRedundancyZones: c.EnableRedundancyZones, DisableUpgradeMigration: c.DisableUpgradeMigration,
		EnableCustomUpgrades: c.EnableCustomUpgrades, CreateIndex: c.CreateIndex, ModifyIndex: c.ModifyIndex,
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*c = AutopilotConfig{
		CleanupDeadServers: aux.CleanupDeadServers, MaxTrailingLogs: aux.MaxTrailingLogs, MinQuorum: aux.MinQuorum,
		LastContactThreshold: c.LastContactThreshold, ServerStabilizationTime: c.ServerStabilizationTime,
		EnableRedundancyZones: aux.EnableRedundancyZones, DisableUpgradeMigration: aux.DisableUpgradeMigration,
		EnableCustomUpgrades: aux.EnableCustomUpgrades, CreateIndex: aux.CreateIndex, ModifyIndex: aux.ModifyIndex,
	}
	var err error
	if aux.LastContactThreshold != "" {
		if c.LastContactThreshold, err = time.ParseDuration(aux.LastContactThreshold); err != nil {
			return fmt.Errorf("LastContactThreshold: %w", err)
		}
	}
	if aux.ServerStabilizationTime != "" {
		if c.ServerStabilizationTime, err = time.ParseDuration(aux.ServerStabilizationTime); err != nil {
			return fmt.Errorf("ServerStabilizationTime: %w", err)
		}
	}
	return nil
}

// ServerHealth is one server's health as the leader's autopilot sees it
// (GET /v1/operator/autopilot/health).
type ServerHealth struct {
	ID          string
	Name        string
	Address     string
	SerfStatus  string
	Version     string
	Leader      bool
	LastContact time.Duration
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	Voter       bool
	StableSince time.Time
}

func (h ServerHealth) MarshalJSON() ([]byte, error) {
	type alias ServerHealth
	return json.Marshal(struct {
		LastContact string
		alias
	}{h.LastContact.String(), alias(h)})
}

func (h *ServerHealth) UnmarshalJSON(b []byte) error {
	type alias ServerHealth
	aux := struct {
		LastContact string
		*alias
	}{alias: (*alias)(h)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if aux.LastContact != "" {
		d, err := time.ParseDuration(aux.LastContact)
		if err != nil {
			return fmt.Errorf("LastContact: %w", err)
		}
		h.LastContact = d
	}
	return nil
}

// OperatorHealthReply is the cluster's health (Nomad's JSON).
type OperatorHealthReply struct {
	Healthy          bool
	FailureTolerance int
	Servers          []ServerHealth
	Leader           string
	Voters           []string
}

// RaftServer is one server of the Raft configuration
// (GET /v1/operator/raft/configuration).
type RaftServer struct {
	ID           string
	Node         string
	Address      string
	Leader       bool
	Voter        bool
	RaftProtocol string
}

// RaftConfigurationResponse is the Raft configuration with its index.
type RaftConfigurationResponse struct {
	Servers []*RaftServer
	Index   uint64
}

// RaftStats is one server's view of its own Raft log and leader, which
// the leader's autopilot gathers from every server (GET /v1/status/raft).
type RaftStats struct {
	ID    string
	State string
	// LastContact is the time since the leader was last heard from, "0s"
	// on the leader, "never" when it has not been since start.
	LastContact  string
	LastTerm     uint64
	LastIndex    uint64
	AppliedIndex uint64
}

// StateHash is a digest of a server's replicated state at an index:
// servers at the same index must have the same hash.
type StateHash struct {
	Index uint64
	Hash  string
}
