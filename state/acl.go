package state

import (
	"crypto/sha256"
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// ACL tables. Tokens are found by secret through an index of the secret's
// SHA-256, so lookups never compare secrets byte by byte.
const (
	TableACLPolicies = "acl_policy"
	TableACLTokens   = "acl_token"
	TableACLRoles    = "acl_role"

	// indexACLBootstrap is the "index" table row recording the Raft index
	// of the ACL bootstrap; a reset must name it.
	indexACLBootstrap = "acl_token_bootstrap"
)

// Kinds of ACL objects in a state dump.
const (
	KindACLPolicy = "acl_policy" // *structs.ACLPolicy
	KindACLToken  = "acl_token"  // *structs.ACLToken
	KindACLRole   = "acl_role"   // *structs.ACLRole
)

func aclTables() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		TableACLPolicies: {
			Name: TableACLPolicies,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Name"}},
			},
		},
		TableACLTokens: {
			Name: TableACLTokens,
			Indexes: map[string]*memdb.IndexSchema{
				"id":     {Name: "id", Unique: true, Indexer: &memdb.UUIDFieldIndex{Field: "AccessorID"}},
				"secret": {Name: "secret", Unique: true, Indexer: secretHashIndex{}},
			},
		},
		TableACLRoles: {
			Name: TableACLRoles,
			Indexes: map[string]*memdb.IndexSchema{
				"id":   {Name: "id", Unique: true, Indexer: &memdb.UUIDFieldIndex{Field: "ID"}},
				"name": {Name: "name", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Name"}},
			},
		},
	}
}

// secretHashIndex indexes tokens by sha256(SecretID).
type secretHashIndex struct{}

func (secretHashIndex) FromObject(obj any) (bool, []byte, error) {
	t, ok := obj.(*structs.ACLToken)
	if !ok {
		return false, nil, fmt.Errorf("secret index: %T is not a token", obj)
	}
	if t.SecretID == "" {
		return false, nil, nil
	}
	h := sha256.Sum256([]byte(t.SecretID))
	return true, h[:], nil
}

func (secretHashIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("secret index: want one argument")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("secret index: argument must be a string")
	}
	h := sha256.Sum256([]byte(s))
	return h[:], nil
}

// ACLVersion changes whenever a token, policy or role changes: token
// resolution caches are valid while it stands still.
func (s *Snapshot) ACLVersion() uint64 {
	var v uint64
	for _, t := range []string{TableACLPolicies, TableACLTokens, TableACLRoles} {
		if i, err := s.Index(t); err == nil && i > v {
			v = i
		}
	}
	return v
}

// ACLBootstrapIndex is the Raft index of the ACL bootstrap, 0 before it.
func (s *Snapshot) ACLBootstrapIndex() (uint64, error) { return s.Index(indexACLBootstrap) }

// ACLPolicyByName returns the policy, nil when absent.
func (s *Snapshot) ACLPolicyByName(ws memdb.WatchSet, name string) (*structs.ACLPolicy, error) {
	obj, err := s.first(ws, TableACLPolicies, "id", name)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.ACLPolicy), nil
}

// ACLPolicies returns the policies whose name starts with prefix, by name.
func (s *Snapshot) ACLPolicies(ws memdb.WatchSet, prefix string) ([]*structs.ACLPolicy, error) {
	it, err := s.get(ws, TableACLPolicies, "id_prefix", prefix)
	if err != nil {
		return nil, err
	}
	var out []*structs.ACLPolicy
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.ACLPolicy))
	}
	return out, nil
}

// ACLTokenByAccessor returns the token, nil when absent.
func (s *Snapshot) ACLTokenByAccessor(ws memdb.WatchSet, accessor string) (*structs.ACLToken, error) {
	if !isUUID(accessor) {
		return nil, nil
	}
	obj, err := s.first(ws, TableACLTokens, "id", accessor)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.ACLToken), nil
}

// ACLTokenBySecret returns the token whose secret hashes like secret; the
// caller compares the secret itself in constant time.
func (s *Snapshot) ACLTokenBySecret(ws memdb.WatchSet, secret string) (*structs.ACLToken, error) {
	if secret == "" {
		return nil, nil
	}
	obj, err := s.first(ws, TableACLTokens, "secret", secret)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.ACLToken), nil
}

// ACLTokens returns every token, by accessor ID.
func (s *Snapshot) ACLTokens(ws memdb.WatchSet) ([]*structs.ACLToken, error) {
	it, err := s.get(ws, TableACLTokens, "id")
	if err != nil {
		return nil, err
	}
	var out []*structs.ACLToken
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.ACLToken))
	}
	return out, nil
}

// ACLRoleByID returns the role, nil when absent.
func (s *Snapshot) ACLRoleByID(ws memdb.WatchSet, id string) (*structs.ACLRole, error) {
	if !isUUID(id) {
		return nil, nil
	}
	obj, err := s.first(ws, TableACLRoles, "id", id)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.ACLRole), nil
}

// ACLRoleByName returns the role, nil when absent.
func (s *Snapshot) ACLRoleByName(ws memdb.WatchSet, name string) (*structs.ACLRole, error) {
	obj, err := s.first(ws, TableACLRoles, "name", name)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.ACLRole), nil
}

// ACLRoles returns every role, by ID.
func (s *Snapshot) ACLRoles(ws memdb.WatchSet) ([]*structs.ACLRole, error) {
	it, err := s.get(ws, TableACLRoles, "id")
	if err != nil {
		return nil, err
	}
	var out []*structs.ACLRole
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.ACLRole))
	}
	return out, nil
}

// UpsertACLPolicies creates or updates policies.
func (t *WriteTxn) UpsertACLPolicies(policies []*structs.ACLPolicy) error {
	for _, in := range policies {
		if in == nil || in.Name == "" {
			return fmt.Errorf("upsert ACL policy: missing policy or name")
		}
		p := *in
		old, err := t.Reader().ACLPolicyByName(nil, p.Name)
		if err != nil {
			return err
		}
		p.CreateIndex = t.index
		if old != nil {
			p.CreateIndex = old.CreateIndex
		}
		p.ModifyIndex = t.index
		if err := t.txn.Insert(TableACLPolicies, &p); err != nil {
			return fmt.Errorf("insert ACL policy %s: %w", p.Name, err)
		}
	}
	t.touch(TableACLPolicies)
	return nil
}

// DeleteACLPolicies removes policies; deleting one that does not exist is
// an error, so a typo is not reported as success.
func (t *WriteTxn) DeleteACLPolicies(names []string) error {
	for _, n := range names {
		obj, err := t.txn.First(TableACLPolicies, "id", n)
		if err != nil {
			return fmt.Errorf("ACL policy lookup: %w", err)
		}
		if obj == nil {
			return fmt.Errorf("ACL policy %q: %w", n, ErrNotFound)
		}
		if err := t.txn.Delete(TableACLPolicies, obj); err != nil {
			return fmt.Errorf("delete ACL policy %s: %w", n, err)
		}
	}
	t.touch(TableACLPolicies)
	return nil
}

// UpsertACLTokens creates or updates tokens. Accessor and secret are
// immutable: an update must carry the stored secret.
func (t *WriteTxn) UpsertACLTokens(tokens []*structs.ACLToken) error {
	for _, in := range tokens {
		if in == nil || !isUUID(in.AccessorID) || in.SecretID == "" {
			return fmt.Errorf("upsert ACL token: missing token, accessor or secret")
		}
		tok := *in
		old, err := t.Reader().ACLTokenByAccessor(nil, tok.AccessorID)
		if err != nil {
			return err
		}
		tok.CreateIndex = t.index
		if old != nil {
			if old.SecretID != tok.SecretID {
				return fmt.Errorf("ACL token %s: the secret cannot change", tok.AccessorID)
			}
			tok.CreateIndex = old.CreateIndex
		}
		// memdb does not enforce unique secondary indexes itself.
		if same, err := t.Reader().ACLTokenBySecret(nil, tok.SecretID); err != nil {
			return err
		} else if same != nil && same.AccessorID != tok.AccessorID {
			return fmt.Errorf("ACL token %s: secret already in use", tok.AccessorID)
		}
		tok.ModifyIndex = t.index
		if err := t.txn.Insert(TableACLTokens, &tok); err != nil {
			return fmt.Errorf("insert ACL token %s: %w", tok.AccessorID, err)
		}
	}
	t.touch(TableACLTokens)
	return nil
}

// DeleteACLTokens removes tokens by accessor ID.
func (t *WriteTxn) DeleteACLTokens(accessors []string, missingOK bool) error {
	for _, a := range accessors {
		if !isUUID(a) {
			return fmt.Errorf("ACL token %q: %w", a, ErrNotFound)
		}
		obj, err := t.txn.First(TableACLTokens, "id", a)
		if err != nil {
			return fmt.Errorf("ACL token lookup: %w", err)
		}
		if obj == nil {
			if missingOK {
				continue
			}
			return fmt.Errorf("ACL token %q: %w", a, ErrNotFound)
		}
		if err := t.txn.Delete(TableACLTokens, obj); err != nil {
			return fmt.Errorf("delete ACL token %s: %w", a, err)
		}
	}
	t.touch(TableACLTokens)
	return nil
}

// BootstrapACLToken stores the initial management token, once: again only
// when resetIndex names the current bootstrap's index.
func (t *WriteTxn) BootstrapACLToken(tok *structs.ACLToken, resetIndex uint64) error {
	cur, err := t.Reader().ACLBootstrapIndex()
	if err != nil {
		return err
	}
	if cur != 0 && resetIndex != cur {
		return fmt.Errorf("ACL bootstrap already done (reset index: %d)", cur)
	}
	if err := t.UpsertACLTokens([]*structs.ACLToken{tok}); err != nil {
		return err
	}
	t.touch(indexACLBootstrap)
	return nil
}

// UpsertACLRoles creates or updates roles; names stay unique.
func (t *WriteTxn) UpsertACLRoles(roles []*structs.ACLRole) error {
	for _, in := range roles {
		if in == nil || !isUUID(in.ID) || in.Name == "" {
			return fmt.Errorf("upsert ACL role: missing role, ID or name")
		}
		role := *in
		r := t.Reader()
		old, err := r.ACLRoleByID(nil, role.ID)
		if err != nil {
			return err
		}
		byName, err := r.ACLRoleByName(nil, role.Name)
		if err != nil {
			return err
		}
		if byName != nil && byName.ID != role.ID {
			return fmt.Errorf("ACL role with name %q already exists", role.Name)
		}
		role.CreateIndex = t.index
		if old != nil {
			role.CreateIndex = old.CreateIndex
		}
		role.ModifyIndex = t.index
		if err := t.txn.Insert(TableACLRoles, &role); err != nil {
			return fmt.Errorf("insert ACL role %s: %w", role.ID, err)
		}
	}
	t.touch(TableACLRoles)
	return nil
}

// DeleteACLRoles removes roles by ID.
func (t *WriteTxn) DeleteACLRoles(ids []string) error {
	for _, id := range ids {
		if !isUUID(id) {
			return fmt.Errorf("ACL role %q: %w", id, ErrNotFound)
		}
		obj, err := t.txn.First(TableACLRoles, "id", id)
		if err != nil {
			return fmt.Errorf("ACL role lookup: %w", err)
		}
		if obj == nil {
			return fmt.Errorf("ACL role %q: %w", id, ErrNotFound)
		}
		if err := t.txn.Delete(TableACLRoles, obj); err != nil {
			return fmt.Errorf("delete ACL role %s: %w", id, err)
		}
	}
	t.touch(TableACLRoles)
	return nil
}

// ACLPolicyRestore, ACLTokenRestore and ACLRoleRestore load ACL objects
// from a snapshot.
func (r *Restore) ACLPolicyRestore(p *structs.ACLPolicy) error {
	if p == nil || p.Name == "" {
		return fmt.Errorf("restore ACL policy: missing policy or name")
	}
	return r.insert(TableACLPolicies, p, "ACL policy "+p.Name)
}

func (r *Restore) ACLTokenRestore(tok *structs.ACLToken) error {
	if tok == nil || !isUUID(tok.AccessorID) {
		return fmt.Errorf("restore ACL token: missing token or accessor")
	}
	return r.insert(TableACLTokens, tok, "ACL token "+tok.AccessorID)
}

func (r *Restore) ACLRoleRestore(role *structs.ACLRole) error {
	if role == nil || !isUUID(role.ID) {
		return fmt.Errorf("restore ACL role: missing role or ID")
	}
	return r.insert(TableACLRoles, role, "ACL role "+role.ID)
}

// isUUID reports whether s has the 8-4-4-4-12 hex shape memdb's UUID
// indexes require (anything else cannot be stored, so it cannot match).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
