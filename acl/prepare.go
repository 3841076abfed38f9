package acl

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// The write side of the ACL system: what the leader checks and fills in
// before an ACL or namespace write reaches Raft. Every function here is a
// pure function of its input, the state it reads and the time it is given.

// Reader is the state the write checks read (*state.Snapshot has it).
type Reader interface {
	ACLPolicyByName(ws memdb.WatchSet, name string) (*structs.ACLPolicy, error)
	ACLTokenByAccessor(ws memdb.WatchSet, accessor string) (*structs.ACLToken, error)
	ACLRoleByID(ws memdb.WatchSet, id string) (*structs.ACLRole, error)
	ACLRoleByName(ws memdb.WatchSet, name string) (*structs.ACLRole, error)
}

// Token expiration bounds, Nomad's defaults for
// acl.token_min_expiration_ttl and acl.token_max_expiration_ttl.
const (
	MinTokenTTL = time.Minute
	MaxTokenTTL = 24 * time.Hour
)

var (
	validName     = regexp.MustCompile(`^[a-zA-Z0-9-]{1,128}$`)
	validRoleName = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,256}$`)
)

const maxDescription = 256

// ValidateNamespace checks a namespace before it is written.
func ValidateNamespace(ns *structs.Namespace) error {
	if ns == nil {
		return fmt.Errorf("missing namespace")
	}
	if !validName.MatchString(ns.Name) {
		return fmt.Errorf("invalid name %q. Must match regex %s", ns.Name, validName)
	}
	if len(ns.Description) > maxDescription {
		return fmt.Errorf("description longer than %d", maxDescription)
	}
	// Enterprise settings orch cannot honour are refused, not stored.
	if ns.Quota != "" {
		return fmt.Errorf("namespace %q: quotas are not supported", ns.Name)
	}
	if c := ns.NodePoolConfiguration; c != nil && (c.Default != "" || len(c.Allowed) > 0 || len(c.Denied) > 0) {
		return fmt.Errorf("namespace %q: node_pool_config is not supported", ns.Name)
	}
	if len(ns.VaultConfiguration) > 0 || len(ns.ConsulConfiguration) > 0 {
		return fmt.Errorf("namespace %q: vault and consul configuration are not supported", ns.Name)
	}
	return nil
}

// ValidatePolicy checks a policy: its name, description and rules.
func ValidatePolicy(p *structs.ACLPolicy) error {
	if p == nil {
		return fmt.Errorf("missing policy")
	}
	if !validName.MatchString(p.Name) {
		return fmt.Errorf("invalid name %q", p.Name)
	}
	if len(p.Description) > maxDescription {
		return fmt.Errorf("description longer than %d", maxDescription)
	}
	if _, err := Parse(p.Rules); err != nil {
		return err
	}
	if j := p.JobACL; j != nil {
		if j.JobID == "" {
			return fmt.Errorf("JobACL requires a job ID")
		}
		if j.Task != "" && j.Group == "" {
			return fmt.Errorf("JobACL with a task requires a group")
		}
	}
	return nil
}

// NewSecret returns a random UUID-shaped secret.
func NewSecret() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// PrepareToken checks a token create (AccessorID empty) or update and
// returns what is to be stored: new tokens get their accessor, secret,
// create time and expiration; updates keep what may not change.
func PrepareToken(r Reader, now time.Time, in *structs.ACLToken) (*structs.ACLToken, error) {
	if in == nil {
		return nil, fmt.Errorf("missing token")
	}
	tok := *in
	tok.Policies = append([]string(nil), in.Policies...)
	switch tok.Type {
	case structs.ACLTokenTypeClient:
		if len(tok.Policies) == 0 && len(tok.Roles) == 0 {
			return nil, fmt.Errorf("client token missing policies or roles")
		}
	case structs.ACLTokenTypeManagement:
		if len(tok.Policies) != 0 || len(tok.Roles) != 0 {
			return nil, fmt.Errorf("management token cannot be associated with policies or roles")
		}
	default:
		return nil, fmt.Errorf("token type must be client or management")
	}
	if len(tok.Name) > maxDescription {
		return nil, fmt.Errorf("token name too long")
	}
	for _, p := range tok.Policies {
		pol, err := r.ACLPolicyByName(nil, p)
		if err != nil {
			return nil, err
		}
		if pol == nil {
			return nil, fmt.Errorf("cannot find policy %s", p)
		}
	}
	roles, err := linkRoles(r, tok.Roles)
	if err != nil {
		return nil, err
	}
	tok.Roles = roles
	if tok.AccessorID == "" {
		return newToken(tok, now)
	}
	return updateToken(r, tok)
}

func newToken(tok structs.ACLToken, now time.Time) (*structs.ACLToken, error) {
	tok.AccessorID = structs.GenerateUUID()
	if tok.SecretID == "" {
		tok.SecretID = NewSecret()
	}
	tok.CreateTime = now.UTC()
	if tok.ExpirationTTL != 0 && tok.ExpirationTime != nil {
		return nil, fmt.Errorf("cannot set both expiration TTL and expiration time")
	}
	if tok.ExpirationTTL != 0 {
		if tok.ExpirationTTL < MinTokenTTL || tok.ExpirationTTL > MaxTokenTTL {
			return nil, fmt.Errorf("expiration time cannot be less than %s or more than %s", MinTokenTTL, MaxTokenTTL)
		}
		exp := tok.CreateTime.Add(tok.ExpirationTTL)
		tok.ExpirationTime = &exp
	} else if tok.ExpirationTime != nil {
		d := tok.ExpirationTime.Sub(tok.CreateTime)
		if d < MinTokenTTL || d > MaxTokenTTL {
			return nil, fmt.Errorf("expiration time cannot be less than %s or more than %s in the future", MinTokenTTL, MaxTokenTTL)
		}
	}
	tok.ExpirationTTL = 0
	return &tok, nil
}

func updateToken(r Reader, tok structs.ACLToken) (*structs.ACLToken, error) {
	old, err := r.ACLTokenByAccessor(nil, tok.AccessorID)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, fmt.Errorf("cannot find token %s", tok.AccessorID)
	}
	if tok.SecretID != "" && tok.SecretID != old.SecretID {
		return nil, fmt.Errorf("cannot change the secret of token %s", tok.AccessorID)
	}
	if tok.Global != old.Global {
		return nil, fmt.Errorf("cannot toggle global mode")
	}
	if tok.ExpirationTTL != 0 || (tok.ExpirationTime != nil && (old.ExpirationTime == nil || !tok.ExpirationTime.Equal(*old.ExpirationTime))) {
		return nil, fmt.Errorf("cannot update expiration time")
	}
	tok.SecretID = old.SecretID
	tok.CreateTime = old.CreateTime
	tok.ExpirationTime = old.ExpirationTime
	tok.ExpirationTTL = 0
	return &tok, nil
}

// linkRoles resolves role links given by ID or name to ID and current name.
func linkRoles(r Reader, links []*structs.ACLTokenRoleLink) ([]*structs.ACLTokenRoleLink, error) {
	var out []*structs.ACLTokenRoleLink
	seen := map[string]bool{}
	for _, l := range links {
		if l == nil || (l.ID == "" && l.Name == "") {
			return nil, fmt.Errorf("role link needs an ID or a name")
		}
		var role *structs.ACLRole
		var err error
		if l.ID != "" {
			role, err = r.ACLRoleByID(nil, l.ID)
		} else {
			role, err = r.ACLRoleByName(nil, l.Name)
		}
		if err != nil {
			return nil, err
		}
		if role == nil {
			return nil, fmt.Errorf("cannot find role %s%s", l.ID, l.Name)
		}
		if !seen[role.ID] {
			seen[role.ID] = true
			out = append(out, &structs.ACLTokenRoleLink{ID: role.ID, Name: role.Name})
		}
	}
	return out, nil
}

// PrepareRole checks a role create (ID empty) or update.
func PrepareRole(r Reader, in *structs.ACLRole) (*structs.ACLRole, error) {
	if in == nil {
		return nil, fmt.Errorf("missing role")
	}
	role := *in
	if !validRoleName.MatchString(role.Name) {
		return nil, fmt.Errorf("invalid name %q", role.Name)
	}
	if len(role.Description) > maxDescription {
		return nil, fmt.Errorf("description longer than %d", maxDescription)
	}
	if len(role.Policies) == 0 {
		return nil, fmt.Errorf("at least one policy should be specified")
	}
	for _, p := range role.Policies {
		if p == nil {
			return nil, fmt.Errorf("empty policy link")
		}
		pol, err := r.ACLPolicyByName(nil, p.Name)
		if err != nil {
			return nil, err
		}
		if pol == nil {
			return nil, fmt.Errorf("cannot find policy %s", p.Name)
		}
	}
	if role.ID == "" {
		role.ID = structs.GenerateUUID()
	} else {
		old, err := r.ACLRoleByID(nil, role.ID)
		if err != nil {
			return nil, err
		}
		if old == nil {
			return nil, fmt.Errorf("cannot find role %s", role.ID)
		}
	}
	byName, err := r.ACLRoleByName(nil, role.Name)
	if err != nil {
		return nil, err
	}
	if byName != nil && byName.ID != role.ID {
		return nil, fmt.Errorf("role with name %s already exists", role.Name)
	}
	return &role, nil
}
