package control

import (
	"time"

	"github.com/orch-project/orch/structs"
)

// RegisterRequest is the body of Node.Register. Node.ID and Node.SecretID
// must equal the call's credentials; only the client-owned fields of Node
// are taken (structs.Node.ClientFields).
type RegisterRequest struct {
	Node *structs.Node `json:"Node"`
}

// ServerInfo describes a server a client can call.
type ServerInfo struct {
	Name       string `json:"Name"`
	RPCAddr    string `json:"RPCAddr"`
	SerfAddr   string `json:"SerfAddr"`
	Datacenter string `json:"Datacenter"`
}

// HeartbeatResponse answers Node.Register and Node.Heartbeat.
type HeartbeatResponse struct {
	// Index is the Raft index of the node's last change (its
	// registration's, for a register call); reads by the node wait for a
	// replica to reach it.
	Index uint64 `json:"Index"`
	// HeartbeatTTL is how long the leader goes without a heartbeat before
	// the node counts as missing (plus its heartbeat grace): the client
	// sends one every HeartbeatTTL/3.
	HeartbeatTTL time.Duration `json:"HeartbeatTTL"`
	// Servers are the region's servers; NumVoters how many of them vote
	// in Raft (a client that reaches a majority of them is not cut off).
	Servers   []ServerInfo `json:"Servers"`
	NumVoters int          `json:"NumVoters"`
	// Voters are the Raft IDs of the voting servers.
	Voters []string `json:"Voters,omitempty"`
}

// ContactSilenceMin is how long a majority of the voters must all have gone
// without any leader's contact, at once, for a client to count that as
// proof that nobody could mark its node down meanwhile (server's
// LeaderGapMax plus its assumed Raft response delay; see
// server/leader_contact.go).
const ContactSilenceMin = 500 * time.Millisecond

// ContactResponse answers Node.Contact: Heartbeat when the answering server
// leads (and took the call as a heartbeat); otherwise how long no leader
// has reached it (NoLeaderFor; zero proves nothing).
type ContactResponse struct {
	ServerID    string             `json:"ServerID"`
	Heartbeat   *HeartbeatResponse `json:"Heartbeat,omitempty"`
	NoLeaderFor time.Duration      `json:"NoLeaderFor"`
}

// HeartbeatRequest is the body of Node.Heartbeat. Leaving announces a
// graceful agent shutdown: the node's tasks keep running and the agent
// means to come back, so the leader waits longer before declaring it
// missing.
type HeartbeatRequest struct {
	NodeID  string `json:"NodeID"`
	Leaving bool   `json:"Leaving,omitempty"`
}

// WatchAllocsRequest is the body of Node.WatchAllocs: a blocking query that
// returns once an allocation of the node changed past MinIndex, the node no
// longer has Known allocations (some were garbage collected), or MaxWait
// passed.
type WatchAllocsRequest struct {
	MinIndex uint64        `json:"MinIndex"`
	Known    int           `json:"Known"`
	MaxWait  time.Duration `json:"MaxWait"`
}

// WatchAllocsResponse lists each of the node's allocations with its
// AllocModifyIndex; the client fetches the ones that changed. Index is the
// newest AllocModifyIndex among them; StateIndex is how far the answering
// replica has applied the allocations table, so a client can tell a
// replica that lags behind what it saw elsewhere (whose missing
// allocations are not gone) from a garbage collection.
type WatchAllocsResponse struct {
	Allocs     map[string]uint64 `json:"Allocs"`
	Index      uint64            `json:"Index"`
	StateIndex uint64            `json:"StateIndex"`
}

// AllocsGetRequest names allocations of the calling node to fetch.
type AllocsGetRequest struct {
	AllocIDs []string `json:"AllocIDs"`
}

// AllocsGetResponse carries the allocations the replica holds (IDs it does
// not hold yet are left out).
type AllocsGetResponse struct {
	Allocs []*structs.Allocation `json:"Allocs"`
	Index  uint64                `json:"Index"`
}

// AllocsUpdateRequest carries client-side status updates of the calling
// node's allocations: ID, ClientStatus, ClientDescription, TaskStates and
// the dynamic ports the client assigned.
type AllocsUpdateRequest struct {
	Allocs []*structs.Allocation `json:"Allocs"`
}

// WriteResponse answers writes.
type WriteResponse struct {
	Index uint64 `json:"Index"`
}
