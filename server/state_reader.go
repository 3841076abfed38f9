package server

import (
	"github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/structs"
)

// stateReader is the part of a state snapshot the plan applier reads.
type stateReader interface {
	NodeByID(ws memdb.WatchSet, id string) (*structs.Node, error)
	AllocsByNode(ws memdb.WatchSet, nodeID string) ([]*structs.Allocation, error)
}
