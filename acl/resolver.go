package acl

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/structs"
)

// Errors of token resolution. Their texts are Nomad's; the HTTP layer
// answers all of them with 403.
var (
	ErrPermissionDenied = errors.New("Permission denied")
	ErrTokenNotFound    = errors.New("ACL token not found")
	ErrTokenExpired     = errors.New("ACL token expired")
	ErrTokenInvalid     = errors.New("ACL token is invalid")
)

// Source is where a Resolver finds tokens, policies and roles: the
// server's state, or a client agent's servers.
type Source interface {
	// TokenBySecret returns the token with this secret, nil if none.
	TokenBySecret(ctx context.Context, secret string) (*structs.ACLToken, error)
	// PoliciesByName returns the named policies that exist.
	PoliciesByName(ctx context.Context, names []string) ([]*structs.ACLPolicy, error)
	// RolesByID returns the roles that exist among ids.
	RolesByID(ctx context.Context, ids []string) ([]*structs.ACLRole, error)
	// Version changes whenever any token, policy or role changes. A source
	// that cannot tell returns 0; its answers are then cached for the TTL.
	Version() uint64
}

// WorkloadSource is a Source that can also verify workload identities
// (the JWTs tasks receive): the signature, and that the allocation still
// runs. It returns the workload's claims and the policies attached to its
// job, group or task (JobACL).
type WorkloadSource interface {
	VerifyWorkload(ctx context.Context, jwt string) (*structs.WorkloadClaims, []*structs.ACLPolicy, error)
}

// looksLikeJWT tells a workload identity (three base64url parts of a JSON
// header) from an ACL secret (a UUID).
func looksLikeJWT(tok string) bool {
	return strings.Count(tok, ".") == 2 && strings.HasPrefix(tok, "eyJ")
}

// Resolver turns a secret into a token and its compiled ACL, caching both:
// with a versioned source an entry lives until the version moves (any ACL
// write), otherwise for the TTL.
type Resolver struct {
	src       Source
	tokenTTL  time.Duration
	policyTTL time.Duration
	now       func() time.Time

	mu     sync.Mutex
	tokens map[[32]byte]*cachedToken
	acls   map[string]*cachedACL
}

type cachedToken struct {
	token   *structs.ACLToken // nil: no such token
	version uint64
	at      time.Time
}

type cachedACL struct {
	acl     *ACL
	version uint64
	at      time.Time
}

// maxCached bounds each cache: a flood of random secrets must not grow
// memory without bound.
const maxCached = 8192

// DefaultCacheTTL is how long a client agent trusts a resolved token or
// policy, as Nomad's acl.token_ttl and acl.policy_ttl.
const DefaultCacheTTL = 30 * time.Second

// NewResolver returns a resolver over src. The TTLs matter only for a
// source without versions; <= 0 means DefaultCacheTTL.
func NewResolver(src Source, tokenTTL, policyTTL time.Duration) *Resolver {
	if tokenTTL <= 0 {
		tokenTTL = DefaultCacheTTL
	}
	if policyTTL <= 0 {
		policyTTL = DefaultCacheTTL
	}
	return &Resolver{src: src, tokenTTL: tokenTTL, policyTTL: policyTTL, now: time.Now,
		tokens: map[[32]byte]*cachedToken{}, acls: map[string]*cachedACL{}}
}

func (r *Resolver) fresh(version, entryVersion uint64, at time.Time, ttl time.Duration) bool {
	if version != 0 {
		return version == entryVersion
	}
	return r.now().Sub(at) < ttl
}

// Resolve returns the token a secret names and its ACL. An empty secret is
// the anonymous token, whose ACL is the "anonymous" policy's (deny all
// without it).
func (r *Resolver) Resolve(ctx context.Context, secret string) (*structs.ACLToken, *ACL, error) {
	ctx = withSecret(ctx, secret)
	if looksLikeJWT(secret) {
		return r.workload(ctx, secret)
	}
	tok, err := r.token(ctx, secret)
	if err != nil {
		return nil, nil, err
	}
	a, err := r.ACLFor(ctx, tok)
	if err != nil {
		return nil, nil, err
	}
	return tok, a, nil
}

func (r *Resolver) token(ctx context.Context, secret string) (*structs.ACLToken, error) {
	if secret == "" {
		return structs.AnonymousACLToken, nil
	}
	if len(secret) > 4096 || strings.ContainsAny(secret, "\x00\r\n") {
		return nil, ErrTokenNotFound
	}
	// The cache is keyed by a hash of the secret, so neither the map nor
	// its lookups hold or compare secrets.
	key := sha256.Sum256([]byte(secret))
	version := r.src.Version()
	r.mu.Lock()
	e := r.tokens[key]
	r.mu.Unlock()
	if e == nil || !r.fresh(version, e.version, e.at, r.tokenTTL) {
		tok, err := r.src.TokenBySecret(ctx, secret)
		if err != nil {
			return nil, fmt.Errorf("resolving token: %w", err)
		}
		e = &cachedToken{token: tok, version: version, at: r.now()}
		r.mu.Lock()
		if len(r.tokens) >= maxCached {
			clear(r.tokens)
		}
		r.tokens[key] = e
		r.mu.Unlock()
	}
	tok := e.token
	if tok == nil || subtle.ConstantTimeCompare([]byte(tok.SecretID), []byte(secret)) != 1 {
		return nil, ErrTokenNotFound
	}
	if tok.IsExpired(r.now()) {
		return nil, ErrTokenExpired
	}
	return tok, nil
}

// ACLFor compiles (or fetches from cache) the ACL of a resolved token.
func (r *Resolver) ACLFor(ctx context.Context, tok *structs.ACLToken) (*ACL, error) {
	if tok.IsManagement() {
		return ManagementACL, nil
	}
	roleIDs := make([]string, 0, len(tok.Roles))
	for _, l := range tok.Roles {
		if l != nil && l.ID != "" {
			roleIDs = append(roleIDs, l.ID)
		}
	}
	sort.Strings(roleIDs)
	names := append([]string(nil), tok.Policies...)
	sort.Strings(names)
	key := strings.Join(names, "\x00") + "\x01" + strings.Join(roleIDs, "\x00")
	version := r.src.Version()
	r.mu.Lock()
	e := r.acls[key]
	r.mu.Unlock()
	if e != nil && r.fresh(version, e.version, e.at, r.policyTTL) {
		return e.acl, nil
	}
	a, err := r.compile(ctx, names, roleIDs)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.acls) >= maxCached {
		clear(r.acls)
	}
	r.acls[key] = &cachedACL{acl: a, version: version, at: r.now()}
	r.mu.Unlock()
	return a, nil
}

// compile gathers the token's policies, directly and through its roles,
// and merges them. Policies and roles that no longer exist grant nothing.
func (r *Resolver) compile(ctx context.Context, names, roleIDs []string) (*ACL, error) {
	all := map[string]bool{}
	for _, n := range names {
		all[n] = true
	}
	if len(roleIDs) > 0 {
		roles, err := r.src.RolesByID(ctx, roleIDs)
		if err != nil {
			return nil, fmt.Errorf("resolving roles: %w", err)
		}
		for _, role := range roles {
			for _, n := range role.PolicyNames() {
				all[n] = true
			}
		}
	}
	if len(all) == 0 {
		return DenyAll, nil
	}
	list := sortedKeys(all)
	pols, err := r.src.PoliciesByName(ctx, list)
	if err != nil {
		return nil, fmt.Errorf("resolving policies: %w", err)
	}
	parsed := make([]*Policy, 0, len(pols))
	for _, p := range pols {
		pp, err := Parse(p.Rules)
		if err != nil {
			// Stored policies were validated on write; one that no longer
			// parses grants nothing rather than failing every request.
			continue
		}
		parsed = append(parsed, pp)
	}
	return New(parsed), nil
}

// workload resolves a workload identity. It is not cached: whether its
// allocation still runs is checked on every request.
func (r *Resolver) workload(ctx context.Context, jwt string) (*structs.ACLToken, *ACL, error) {
	ws, ok := r.src.(WorkloadSource)
	if !ok {
		return nil, nil, ErrTokenNotFound
	}
	claims, attached, err := ws.VerifyWorkload(ctx, jwt)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	var parsed []*Policy
	for _, p := range attached {
		if pp, err := Parse(p.Rules); err == nil {
			parsed = append(parsed, pp)
		}
	}
	tok := &structs.ACLToken{
		Name: fmt.Sprintf("workload identity %s/%s/%s/%s", claims.Namespace, claims.JobID, claims.Group, claims.Task),
		Type: structs.ACLTokenTypeClient,
	}
	return tok, NewWorkload(*claims, parsed), nil
}
