package structs

import "github.com/google/uuid"

// GenerateUUID returns a random v4 UUID, the ID format of every object.
func GenerateUUID() string { return uuid.NewString() }

// JobSubmission is the source a job was parsed from, kept for operators.
type JobSubmission struct {
	Source        string            `json:"Source"`
	Format        string            `json:"Format"`
	VariableFlags map[string]string `json:"VariableFlags"`
	Variables     string            `json:"Variables"`
}

// JobRegisterRequest is the body of PUT /v1/jobs and PUT /v1/job/{id}.
type JobRegisterRequest struct {
	Job            *Job           `json:"Job"`
	Submission     *JobSubmission `json:"Submission,omitempty"`
	EnforceIndex   bool           `json:"EnforceIndex,omitempty"`
	JobModifyIndex uint64         `json:"JobModifyIndex,omitempty"`
	PolicyOverride bool           `json:"PolicyOverride,omitempty"`
	PreserveCounts bool           `json:"PreserveCounts,omitempty"`
	EvalPriority   int            `json:"EvalPriority,omitempty"`
	Region         string         `json:"Region,omitempty"`
	Namespace      string         `json:"Namespace,omitempty"`
	SecretID       string         `json:"SecretID,omitempty"`
}

// JobRegisterResponse answers a job registration.
type JobRegisterResponse struct {
	EvalID          string `json:"EvalID"`
	EvalCreateIndex uint64 `json:"EvalCreateIndex"`
	JobModifyIndex  uint64 `json:"JobModifyIndex"`
	Warnings        string `json:"Warnings"`
	Index           uint64 `json:"Index"`
}

// JobDeregisterResponse answers DELETE /v1/job/{id}.
type JobDeregisterResponse struct {
	EvalID          string `json:"EvalID"`
	EvalCreateIndex uint64 `json:"EvalCreateIndex"`
	JobModifyIndex  uint64 `json:"JobModifyIndex"`
	Index           uint64 `json:"Index"`
}

// JobVersionsResponse answers GET /v1/job/{id}/versions.
type JobVersionsResponse struct {
	Versions []*Job     `json:"Versions"`
	Diffs    []*JobDiff `json:"Diffs"`
	Index    uint64     `json:"Index"`
}

// GenericResponse answers writes that return only an index.
type GenericResponse struct {
	Index uint64 `json:"Index"`
}

// AgentMember is one gossip member, as GET /v1/agent/members reports it.
type AgentMember struct {
	Name        string            `json:"Name"`
	Addr        string            `json:"Addr"`
	Port        uint16            `json:"Port"`
	Tags        map[string]string `json:"Tags"`
	Status      string            `json:"Status"`
	ProtocolMin uint8             `json:"ProtocolMin"`
	ProtocolMax uint8             `json:"ProtocolMax"`
	ProtocolCur uint8             `json:"ProtocolCur"`
	DelegateMin uint8             `json:"DelegateMin"`
	DelegateMax uint8             `json:"DelegateMax"`
	DelegateCur uint8             `json:"DelegateCur"`
}

// ServerMembers answers GET /v1/agent/members.
type ServerMembers struct {
	ServerName   string         `json:"ServerName"`
	ServerRegion string         `json:"ServerRegion"`
	ServerDC     string         `json:"ServerDC"`
	Members      []*AgentMember `json:"Members"`
}

// Gossip tags every agent advertises.
const (
	TagRole       = "role" // "server" or "client"
	TagRegion     = "region"
	TagDatacenter = "dc"
	TagHTTPAddr   = "http_addr"
	TagRaftAddr   = "raft_addr"
	// TagRaftID is a server's ID in the Raft configuration (a UUID; the
	// Raft address for data dirs from before server IDs).
	TagRaftID    = "raft_id"
	TagNodeID    = "node_id"
	TagBootstrap = "expect"
	TagVersion   = "build"
	// TagRPCAddr and TagPort are a server's RPC host and port under
	// Nomad's tag names (TagRaftAddr is the same address: Raft and the
	// control channel share the RPC port).
	TagRPCAddr = "rpc_addr"
	TagPort    = "port"
)

// Version is orch's release version.
const Version = "0.1.0"
