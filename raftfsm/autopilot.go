package raftfsm

import (
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// Control plane entries: types 10-14 (15-19 are the control channel's).
const (
	AutopilotSetConfigType MessageType = 10
)

// AutopilotSetConfig stores the autopilot configuration; with CAS only if
// the stored one's ModifyIndex is Index (state.ErrCASConflict otherwise).
type AutopilotSetConfig struct {
	Config *structs.AutopilotConfig `json:"Config"`
	CAS    bool                     `json:"CAS"`
	Index  uint64                   `json:"Index"`
}

func init() {
	register(AutopilotSetConfigType, "AutopilotSetConfig", func(t *state.WriteTxn, b *AutopilotSetConfig) error {
		return t.SetAutopilotConfig(b.Config, b.CAS, b.Index)
	})
}
