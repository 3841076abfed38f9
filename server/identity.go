package server

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/identity"
	"github.com/orch-project/orch/keyring"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// Workload identities: the servers sign each task's default identity with
// the keyring's active signing key, for the client that runs the task, and
// accept it back as a token (the implicit workload policy) while the
// allocation runs.

// ErrIdentityRefused is wrapped when a node asks for identities it may
// not have.
var ErrIdentityRefused = errors.New("identity refused")

// SignIdentities signs the default identity of each named task of an
// allocation placed on nodeID (the caller, authenticated by the control
// channel). Tasks without an identity block get none.
func (s *Server) SignIdentities(nodeID, allocID string, tasks []string) (map[string]string, error) {
	snap := s.State().Snapshot()
	alloc, err := snap.AllocByID(nil, allocID)
	if err != nil {
		return nil, err
	}
	if alloc == nil || alloc.NodeID != nodeID {
		// The same answer for "no such allocation" and "not yours".
		return nil, fmt.Errorf("%w: allocation %s is not on node %s", ErrIdentityRefused, allocID, nodeID)
	}
	if alloc.ClientTerminalStatus() {
		return nil, fmt.Errorf("%w: allocation %s is terminal", ErrIdentityRefused, allocID)
	}
	tg := alloc.Job.LookupTaskGroup(alloc.TaskGroup)
	if tg == nil {
		return nil, fmt.Errorf("%w: allocation %s has no group %q", ErrIdentityRefused, allocID, alloc.TaskGroup)
	}
	key, err := s.keyring.Active(snap)
	if err != nil {
		return nil, fmt.Errorf("signing identities: %w", err)
	}
	now := time.Now()
	out := make(map[string]string, len(tasks))
	for _, name := range tasks {
		var task *structs.Task
		for _, t := range tg.Tasks {
			if t.Name == name {
				task = t
			}
		}
		if task == nil || task.Identity == nil {
			continue
		}
		claims := identity.NewClaims(s.cfg.Region, s.cfg.OIDCIssuer, alloc, name, now)
		jwt, err := identity.Sign(key.ID(), key.Signer(), claims)
		if err != nil {
			return nil, err
		}
		out[name] = jwt
	}
	return out, nil
}

// VerifyWorkload checks a workload identity presented as a token: signed
// by a key of the keyring, for an allocation that exists, belongs to the
// claimed job and has not finished.
func (src stateACLSource) VerifyWorkload(_ context.Context, jwt string) (*structs.WorkloadClaims, []*structs.ACLPolicy, error) {
	s := src.s
	snap := s.State().Snapshot()
	pubs, err := s.keyring.PublicKeys(snap)
	if err != nil {
		return nil, nil, err
	}
	keys := make(map[string]*rsa.PublicKey, len(pubs))
	for _, p := range pubs {
		keys[p.KeyID] = p.Key
	}
	c, err := s.verifiedIdentities.verify(jwt, keys, time.Now())
	if err != nil {
		return nil, nil, err
	}
	alloc, err := snap.AllocByID(nil, c.AllocationID)
	if err != nil {
		return nil, nil, err
	}
	if alloc == nil || alloc.JobID != c.JobID || alloc.TaskGroup != c.Group || normNS(alloc.Namespace) != normNS(c.Namespace) {
		return nil, nil, fmt.Errorf("%w: no such allocation", identity.ErrInvalid)
	}
	if alloc.ClientTerminalStatus() {
		return nil, nil, fmt.Errorf("%w: allocation %s has finished", identity.ErrInvalid, alloc.ID)
	}
	w := c.Workload()
	attached, err := jobPolicies(snap, nil, w)
	return &w, attached, err
}

func normNS(ns string) string {
	if ns == "" {
		return structs.DefaultNamespace
	}
	return ns
}

// jobPolicies returns the policies attached (JobACL) to the workload's job,
// or to its group or task; ws (may be nil) watches the policies.
func jobPolicies(snap *state.Snapshot, ws memdb.WatchSet, w structs.WorkloadClaims) ([]*structs.ACLPolicy, error) {
	all, err := snap.ACLPolicies(ws, "")
	if err != nil {
		return nil, err
	}
	var out []*structs.ACLPolicy
	for _, p := range all {
		j := p.JobACL
		if j == nil || normNS(j.Namespace) != normNS(w.Namespace) || j.JobID != w.JobID {
			continue
		}
		if (j.Group == "" || j.Group == w.Group) && (j.Task == "" || j.Task == w.Task) {
			out = append(out, p)
		}
	}
	return out, nil
}

// PublicSigningKeys lists the keys workload identities may be verified
// with, for the JWKS endpoint.
func (s *Server) PublicSigningKeys() ([]keyring.PublicKey, error) {
	return s.keyring.PublicKeys(s.State().Snapshot())
}

// OIDCIssuer is the configured issuer of workload identities.
func (s *Server) OIDCIssuer() string { return s.cfg.OIDCIssuer }

// identityCache remembers JWTs whose signature verified, so a task calling
// the API does not cost an RSA verification per request. What can change
// is still checked every time: that the signing key is still accepted,
// expiry, and (by the caller) that the allocation still runs.
type identityCache struct {
	mu sync.Mutex
	m  map[[32]byte]*identity.Claims
}

const maxCachedIdentities = 4096

func (ic *identityCache) verify(jwt string, keys map[string]*rsa.PublicKey, now time.Time) (*identity.Claims, error) {
	h := sha256.Sum256([]byte(jwt))
	ic.mu.Lock()
	c := ic.m[h]
	ic.mu.Unlock()
	if c != nil && keys[identity.KeyID(jwt)] != nil && !c.Expired(now) {
		return c, nil
	}
	c, err := identity.Verify(jwt, keys, now)
	if err != nil {
		return nil, err
	}
	ic.mu.Lock()
	if ic.m == nil || len(ic.m) >= maxCachedIdentities {
		ic.m = map[[32]byte]*identity.Claims{}
	}
	ic.m[h] = c
	ic.mu.Unlock()
	return c, nil
}

// identityRoutes are the control-channel calls for workload identities.
func (s *Server) identityRoutes() {
	s.control.Handle(control.Route{Method: control.MethodSignIdentities, Auth: control.AuthNode, Handler: s.ctlSignIdentities})
}

// ctlSignIdentities signs for the authenticated node only: the node's ID
// comes from the channel, not from the request.
func (s *Server) ctlSignIdentities(ctx context.Context, c *control.Call) (any, error) {
	var req control.SignIdentitiesRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	ids, err := s.SignIdentities(c.Node, req.AllocID, req.Tasks)
	if errors.Is(err, keyring.ErrNoActiveKey) {
		// A new cluster's leader makes its first root key moments after
		// taking office, and an allocation placed meanwhile asks for its
		// identity: wait for the key (bounded) instead of failing the task.
		if s.IsLeader() {
			s.wakeKeyring()
		}
		if err = s.waitActiveKey(ctx); err == nil {
			ids, err = s.SignIdentities(c.Node, req.AllocID, req.Tasks)
		}
	}
	if errors.Is(err, ErrIdentityRefused) {
		return nil, control.Errorf(http.StatusForbidden, "%v", err)
	}
	if err != nil {
		return nil, err
	}
	return &control.SignIdentitiesResponse{Identities: ids}, nil
}
