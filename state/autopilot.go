package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// TableAutopilotConfig holds the cluster's one autopilot configuration.
const TableAutopilotConfig = "autopilot_config"

// KindAutopilotConfig is the autopilot configuration in a state dump.
const KindAutopilotConfig = "autopilot_config" // *structs.AutopilotConfig

func autopilotSchema() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		TableAutopilotConfig: {
			Name: TableAutopilotConfig,
			Indexes: map[string]*memdb.IndexSchema{
				// A singleton: every row has the same (empty) key.
				"id": {Name: "id", Unique: true, Indexer: &memdb.ConditionalIndex{
					Conditional: func(any) (bool, error) { return true, nil },
				}},
			},
		},
	}
}

// AutopilotConfig returns the stored autopilot configuration, nil when
// none has been stored yet.
func (s *Snapshot) AutopilotConfig(ws memdb.WatchSet) (*structs.AutopilotConfig, error) {
	obj, err := s.first(ws, TableAutopilotConfig, "id")
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.AutopilotConfig), nil
}

// SetAutopilotConfig stores the autopilot configuration. With cas, it is
// stored only if the current configuration's ModifyIndex is index (0: none
// stored yet); otherwise ErrCASConflict.
func (t *WriteTxn) SetAutopilotConfig(c *structs.AutopilotConfig, cas bool, index uint64) error {
	if c == nil {
		return fmt.Errorf("set autopilot config: missing config")
	}
	obj, err := t.txn.First(TableAutopilotConfig, "id")
	if err != nil {
		return fmt.Errorf("autopilot config lookup: %w", err)
	}
	cur, _ := obj.(*structs.AutopilotConfig)
	if cas {
		var have uint64
		if cur != nil {
			have = cur.ModifyIndex
		}
		if have != index {
			return fmt.Errorf("set autopilot config at index %d, current %d: %w", index, have, ErrCASConflict)
		}
	}
	n := *c
	n.CreateIndex, n.ModifyIndex = t.index, t.index
	if cur != nil {
		n.CreateIndex = cur.CreateIndex
	}
	if err := t.txn.Insert(TableAutopilotConfig, &n); err != nil {
		return fmt.Errorf("insert autopilot config: %w", err)
	}
	t.touch(TableAutopilotConfig)
	return nil
}

// AutopilotConfigRestore loads the autopilot configuration.
func (r *Restore) AutopilotConfigRestore(c *structs.AutopilotConfig) error {
	return r.insert(TableAutopilotConfig, c, "autopilot config")
}
