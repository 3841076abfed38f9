package server

import (
	"github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// stateReader is the part of a state snapshot the plan applier reads.
type stateReader interface {
	NodeByID(ws memdb.WatchSet, id string) (*structs.Node, error)
	AllocsByNode(ws memdb.WatchSet, nodeID string) ([]*structs.Allocation, error)
}

// planOverlay is a state snapshot with a plan result that is still
// committing laid over it, as the FSM will apply it: the pipelined plan
// applier checks the next plan against it. Only what the fit checks read
// is overlaid: each node's allocations.
type planOverlay struct {
	stateReader
	// stopped and placed hold the in-flight plan's allocations by ID;
	// byNode lists the placed ones per node.
	stopped map[string]*structs.Allocation
	placed  map[string]*structs.Allocation
	byNode  map[string][]*structs.Allocation
}

func newPlanOverlay(base stateReader, body *raftfsm.ApplyPlanResults) *planOverlay {
	o := &planOverlay{stateReader: base, stopped: map[string]*structs.Allocation{},
		placed: map[string]*structs.Allocation{}, byNode: map[string][]*structs.Allocation{}}
	for _, a := range body.AllocsStopped {
		o.stopped[a.ID] = a
	}
	for _, a := range body.AllocsUpdated {
		o.placed[a.ID] = a
		o.byNode[a.NodeID] = append(o.byNode[a.NodeID], a)
	}
	return o
}

// AllocsByNode returns the node's committed allocations as the in-flight
// plan leaves them: stopped ones marked stopped, updated ones replaced,
// new ones added.
func (o *planOverlay) AllocsByNode(ws memdb.WatchSet, nodeID string) ([]*structs.Allocation, error) {
	base, err := o.stateReader.AllocsByNode(ws, nodeID)
	if err != nil {
		return nil, err
	}
	out := make([]*structs.Allocation, 0, len(base)+len(o.byNode[nodeID]))
	for _, a := range base {
		if _, ok := o.placed[a.ID]; ok {
			continue
		}
		if st, ok := o.stopped[a.ID]; ok {
			c := *a
			c.DesiredStatus = st.DesiredStatus
			if c.DesiredStatus != structs.AllocDesiredStatusEvict {
				c.DesiredStatus = structs.AllocDesiredStatusStop
			}
			a = &c
		}
		out = append(out, a)
	}
	return append(out, o.byNode[nodeID]...), nil
}
