package httpapi

import (
	"context"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// ServerBackend is what a server agent offers the HTTP layer. Reads go
// straight to State(); writes go through the backend so they pass Raft.
type ServerBackend interface {
	State() *state.Store
	RegisterJob(ctx context.Context, req *structs.JobRegisterRequest) (*structs.JobRegisterResponse, error)
	DeregisterJob(ctx context.Context, namespace, jobID string, opts structs.JobDeregisterOptions) (*structs.JobDeregisterResponse, error)

	ACLBackend
	ScalingBackend

	IsLeader() bool
	// LeaderHTTPAddr is the leader's HTTP address ("host:port" or a URL),
	// "" when no leader is known.
	LeaderHTTPAddr() string
	// Leader is the leader's Raft address, "" when unknown.
	Leader() string
	Peers() []string
	Members() []*structs.AgentMember
	Region() string
	Datacenter() string
	NodeName() string
}

// ClientBackend is what a client agent offers the HTTP layer: access to the
// allocation directories it hosts, for log streaming.
type ClientBackend interface {
	// AllocDir returns the allocation's directory on this node, whose
	// alloc/logs holds the rotated task logs.
	AllocDir(allocID string) (string, bool)
	// Allocation returns the client's record of an allocation it runs
	// (for its namespace, which authorizes access to its files).
	Allocation(allocID string) (*structs.Allocation, bool)
	// CheckResults returns the latest results of the allocation's service
	// checks by check ID (nil when it has none).
	CheckResults(allocID string) map[string]*structs.CheckQueryResult
	NodeID() string
}

// StatusCoder lets backend errors choose their HTTP status (e.g. 400 for
// a rejected request, 404 for an unknown object); other errors become 500.
type StatusCoder interface {
	StatusCode() int
}

// CodedError is an error with an HTTP status.
type CodedError struct {
	Code int
	Msg  string
}

func (e *CodedError) Error() string   { return e.Msg }
func (e *CodedError) StatusCode() int { return e.Code }

func codedErr(code int, format string, args ...any) error {
	return &CodedError{Code: code, Msg: sprintf(format, args...)}
}

// ACLBackend is the namespace and ACL write API of a server (leader only;
// the HTTP layer forwards from followers).
type ACLBackend interface {
	UpsertNamespaces(ctx context.Context, nss []*structs.Namespace) (uint64, error)
	DeleteNamespaces(ctx context.Context, names []string) (uint64, error)
	UpsertACLPolicies(ctx context.Context, policies []*structs.ACLPolicy) (uint64, error)
	DeleteACLPolicies(ctx context.Context, names []string) (uint64, error)
	UpsertACLToken(ctx context.Context, tok *structs.ACLToken) (*structs.ACLToken, uint64, error)
	DeleteACLTokens(ctx context.Context, accessors []string) (uint64, error)
	BootstrapACL(ctx context.Context, secret string) (*structs.ACLToken, uint64, error)
	UpsertACLRole(ctx context.Context, role *structs.ACLRole) (*structs.ACLRole, uint64, error)
	DeleteACLRoles(ctx context.Context, ids []string) (uint64, error)
}
