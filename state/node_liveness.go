package state

import (
	"fmt"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/structs"
)

// SetServerClientStatus records a client status the servers decided for
// allocations whose client cannot report it (their node missed its
// heartbeats): unknown or lost. The transition is appended to AllocStates
// with its time (Unix ns, from the Raft entry), which the scheduler reads
// to know when an unknown allocation's lost_after runs out. Allocations the
// client already finished, and unknown IDs, are left alone. Like a client
// report it moves ModifyIndex only: nothing changes for the client to do.
func (t *WriteTxn) SetServerClientStatus(ids []string, status, desc string, now int64) error {
	for _, id := range ids {
		existing, err := t.alloc(id)
		if err != nil {
			return err
		}
		if existing == nil || existing.ClientTerminalStatus() {
			continue
		}
		a := existing.Copy()
		a.ClientStatus, a.ClientDescription = status, desc
		a.AllocStates = append(append([]*structs.AllocState(nil), existing.AllocStates...),
			&structs.AllocState{Field: structs.AllocStateFieldClientStatus, Value: status, Time: time.Unix(0, now).UTC()})
		a.ModifyTime = now
		a.ModifyIndex = t.index
		if err := t.putAlloc(existing, a); err != nil {
			return fmt.Errorf("marking alloc %s %s: %w", id, status, err)
		}
	}
	return nil
}

// NodesByName returns the nodes registered under a name (a name should
// belong to one live node; a down node may share it with its successor).
func (s *Snapshot) NodesByName(ws memdb.WatchSet, name string) ([]*structs.Node, error) {
	return s.nodesBy(ws, "name", name)
}
