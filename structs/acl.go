package structs

import (
	"encoding/json"
	"fmt"
	"time"
)

// ACL token types, as Nomad's.
const (
	ACLTokenTypeClient     = "client"
	ACLTokenTypeManagement = "management"
)

// AnonymousACLPolicy is the name of the policy applied to requests that carry
// no token; without such a policy they are denied everything.
const AnonymousACLPolicy = "anonymous"

// AnonymousACLToken is what a request without a token is resolved to.
var AnonymousACLToken = &ACLToken{
	AccessorID: "anonymous",
	Name:       "Anonymous Token",
	Type:       ACLTokenTypeClient,
	Policies:   []string{AnonymousACLPolicy},
	Global:     false,
}

// ACLPolicy is a named set of rules in Nomad's ACL policy language.
type ACLPolicy struct {
	Name        string  `json:"Name"`
	Description string  `json:"Description"`
	Rules       string  `json:"Rules"`
	JobACL      *JobACL `json:"JobACL"`
	CreateIndex uint64  `json:"CreateIndex"`
	ModifyIndex uint64  `json:"ModifyIndex"`
}

// JobACL attaches a policy to the workload identities of a job, group or
// task: their implicit workload policy is widened by it.
type JobACL struct {
	Namespace string `json:"Namespace"`
	JobID     string `json:"JobID"`
	Group     string `json:"Group"`
	Task      string `json:"Task"`
}

// ACLPolicyListStub is a policy in GET /v1/acl/policies.
type ACLPolicyListStub struct {
	Name        string  `json:"Name"`
	Description string  `json:"Description"`
	JobACL      *JobACL `json:"JobACL"`
	CreateIndex uint64  `json:"CreateIndex"`
	ModifyIndex uint64  `json:"ModifyIndex"`
}

// Stub returns the policy's list form.
func (p *ACLPolicy) Stub() *ACLPolicyListStub {
	return &ACLPolicyListStub{Name: p.Name, Description: p.Description, JobACL: p.JobACL,
		CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex}
}

// ACLTokenRoleLink names a role a token inherits the policies of. ID is
// authoritative; Name is for people and may go stale after a rename.
type ACLTokenRoleLink struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
}

// ACLToken authenticates a caller. Client tokens carry policies and roles;
// management tokens may do anything.
type ACLToken struct {
	AccessorID string              `json:"AccessorID"`
	SecretID   string              `json:"SecretID"`
	Name       string              `json:"Name"`
	Type       string              `json:"Type"`
	Policies   []string            `json:"Policies"`
	Roles      []*ACLTokenRoleLink `json:"Roles"`
	Global     bool                `json:"Global"`
	CreateTime time.Time           `json:"CreateTime"`
	// ExpirationTime is when the token stops working; nil never.
	ExpirationTime *time.Time `json:"ExpirationTime,omitempty"`
	// ExpirationTTL is only read on creation: ExpirationTime becomes
	// CreateTime + ExpirationTTL.
	ExpirationTTL time.Duration `json:"-"`
	CreateIndex   uint64        `json:"CreateIndex"`
	ModifyIndex   uint64        `json:"ModifyIndex"`
}

// aclTokenJSON is ACLToken's wire form: ExpirationTTL travels as a Go
// duration string ("1h30m"), as Nomad's API sends it, or as nanoseconds.
type aclTokenJSON struct {
	*aclTokenAlias
	ExpirationTTL any `json:"ExpirationTTL,omitempty"`
}

type aclTokenAlias ACLToken

// MarshalJSON writes ExpirationTTL as a duration string, omitted when zero.
func (t *ACLToken) MarshalJSON() ([]byte, error) {
	out := aclTokenJSON{aclTokenAlias: (*aclTokenAlias)(t)}
	if t.ExpirationTTL != 0 {
		out.ExpirationTTL = t.ExpirationTTL.String()
	}
	return json.Marshal(out)
}

// UnmarshalJSON accepts ExpirationTTL as a duration string or nanoseconds.
func (t *ACLToken) UnmarshalJSON(b []byte) error {
	in := aclTokenJSON{aclTokenAlias: (*aclTokenAlias)(t)}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	switch v := in.ExpirationTTL.(type) {
	case nil:
	case string:
		if v == "" {
			break
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("ExpirationTTL: %w", err)
		}
		t.ExpirationTTL = d
	case float64:
		t.ExpirationTTL = time.Duration(v)
	default:
		return fmt.Errorf("ExpirationTTL: want a duration string, got %T", v)
	}
	return nil
}

// IsManagement reports whether the token may do anything.
func (t *ACLToken) IsManagement() bool { return t.Type == ACLTokenTypeManagement }

// IsExpired reports whether the token has expired at now.
func (t *ACLToken) IsExpired(now time.Time) bool {
	return t.ExpirationTime != nil && !t.ExpirationTime.IsZero() && !now.Before(*t.ExpirationTime)
}

// Redacted returns a copy without the secret, for callers who may see that
// a token exists but not use it.
func (t *ACLToken) Redacted() *ACLToken {
	c := *t
	c.SecretID = ""
	return &c
}

// ACLTokenListStub is a token in GET /v1/acl/tokens: no secret.
type ACLTokenListStub struct {
	AccessorID     string              `json:"AccessorID"`
	Name           string              `json:"Name"`
	Type           string              `json:"Type"`
	Policies       []string            `json:"Policies"`
	Roles          []*ACLTokenRoleLink `json:"Roles"`
	Global         bool                `json:"Global"`
	CreateTime     time.Time           `json:"CreateTime"`
	ExpirationTime *time.Time          `json:"ExpirationTime,omitempty"`
	CreateIndex    uint64              `json:"CreateIndex"`
	ModifyIndex    uint64              `json:"ModifyIndex"`
}

// Stub returns the token's list form.
func (t *ACLToken) Stub() *ACLTokenListStub {
	return &ACLTokenListStub{AccessorID: t.AccessorID, Name: t.Name, Type: t.Type, Policies: t.Policies,
		Roles: t.Roles, Global: t.Global, CreateTime: t.CreateTime, ExpirationTime: t.ExpirationTime,
		CreateIndex: t.CreateIndex, ModifyIndex: t.ModifyIndex}
}

// ACLRolePolicyLink names a policy a role grants.
type ACLRolePolicyLink struct {
	Name string `json:"Name"`
}

// ACLRole groups policies under a name tokens can link to.
type ACLRole struct {
	ID          string               `json:"ID"`
	Name        string               `json:"Name"`
	Description string               `json:"Description"`
	Policies    []*ACLRolePolicyLink `json:"Policies"`
	CreateIndex uint64               `json:"CreateIndex"`
	ModifyIndex uint64               `json:"ModifyIndex"`
}

// PolicyNames lists the role's policies.
func (r *ACLRole) PolicyNames() []string {
	out := make([]string, 0, len(r.Policies))
	for _, p := range r.Policies {
		if p != nil {
			out = append(out, p.Name)
		}
	}
	return out
}

// ACLBootstrapRequest is the optional body of PUT /v1/acl/bootstrap: an
// operator-chosen secret for the initial management token.
type ACLBootstrapRequest struct {
	BootstrapSecret string `json:"BootstrapSecret"`
}
