package acl

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

type countingSource struct {
	tokens   map[string]*structs.ACLToken
	policies map[string]*structs.ACLPolicy
	roles    map[string]*structs.ACLRole
	version  uint64
	lookups  int
}

func (c *countingSource) TokenBySecret(_ context.Context, s string) (*structs.ACLToken, error) {
	c.lookups++
	return c.tokens[s], nil
}

func (c *countingSource) PoliciesByName(_ context.Context, names []string) ([]*structs.ACLPolicy, error) {
	c.lookups++
	var out []*structs.ACLPolicy
	for _, n := range names {
		if p := c.policies[n]; p != nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func (c *countingSource) RolesByID(_ context.Context, ids []string) ([]*structs.ACLRole, error) {
	c.lookups++
	var out []*structs.ACLRole
	for _, id := range ids {
		if r := c.roles[id]; r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func (c *countingSource) Version() uint64 { return c.version }

func newCounting() *countingSource {
	return &countingSource{
		tokens: map[string]*structs.ACLToken{
			"s1": {AccessorID: "a1", SecretID: "s1", Type: structs.ACLTokenTypeClient, Policies: []string{"p"},
				Roles: []*structs.ACLTokenRoleLink{{ID: "r1"}}},
		},
		policies: map[string]*structs.ACLPolicy{
			"p":  {Name: "p", Rules: `node { policy = "read" }`},
			"rp": {Name: "rp", Rules: `agent { policy = "read" }`},
		},
		roles:   map[string]*structs.ACLRole{"r1": {ID: "r1", Policies: []*structs.ACLRolePolicyLink{{Name: "rp"}}}},
		version: 1,
	}
}

func TestResolverCachesUntilVersionMoves(t *testing.T) {
	src := newCounting()
	r := NewResolver(src, time.Hour, time.Hour)
	ctx := context.Background()
	_, a, err := r.Resolve(ctx, "s1")
	if err != nil || !a.AllowNodeRead() || !a.AllowAgentRead() || a.AllowNodeWrite() {
		t.Fatalf("resolve: %v %+v", err, a)
	}
	n := src.lookups
	for range 10 {
		if _, _, err := r.Resolve(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
	}
	if src.lookups != n {
		t.Fatalf("cached resolution still looked up %d times", src.lookups-n)
	}
	// A policy change bumps the version: the next request sees it.
	src.policies["p"] = &structs.ACLPolicy{Name: "p", Rules: `node { policy = "write" }`}
	src.version++
	if _, a, _ := r.Resolve(ctx, "s1"); !a.AllowNodeWrite() {
		t.Fatal("policy change not seen after the version moved")
	}
	delete(src.tokens, "s1")
	src.version++
	if _, _, err := r.Resolve(ctx, "s1"); !errors.Is(err, ErrTokenNotFound) {
		t.Fatalf("deleted token: %v", err)
	}
}

func TestResolverTTLWithoutVersions(t *testing.T) {
	src := newCounting()
	src.version = 0
	r := NewResolver(src, time.Minute, time.Minute)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	ctx := context.Background()
	if _, _, err := r.Resolve(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	delete(src.tokens, "s1")
	if _, _, err := r.Resolve(ctx, "s1"); err != nil {
		t.Fatal("token dropped before its TTL")
	}
	now = now.Add(2 * time.Minute)
	if _, _, err := r.Resolve(ctx, "s1"); !errors.Is(err, ErrTokenNotFound) {
		t.Fatalf("token kept past its TTL: %v", err)
	}
}

func TestResolverAnonymousExpiredAndJunk(t *testing.T) {
	src := newCounting()
	past := time.Now().Add(-time.Second)
	src.tokens["old"] = &structs.ACLToken{AccessorID: "a2", SecretID: "old", Type: structs.ACLTokenTypeManagement, ExpirationTime: &past}
	r := NewResolver(src, 0, 0)
	ctx := context.Background()
	tok, a, err := r.Resolve(ctx, "")
	if err != nil || tok != structs.AnonymousACLToken || a.AllowNodeRead() {
		t.Fatalf("anonymous without a policy: %v %v", tok, err)
	}
	src.policies["anonymous"] = &structs.ACLPolicy{Name: "anonymous", Rules: `node { policy = "read" }`}
	src.version++
	if _, a, _ := r.Resolve(ctx, ""); !a.AllowNodeRead() {
		t.Fatal("anonymous policy not applied")
	}
	if _, _, err := r.Resolve(ctx, "old"); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired: %v", err)
	}
	for _, junk := range []string{"nope", "a\x00b", string(make([]byte, 5000))} {
		if _, _, err := r.Resolve(ctx, junk); !errors.Is(err, ErrTokenNotFound) {
			t.Fatalf("junk secret %q: %v", junk[:min(len(junk), 8)], err)
		}
	}
	// A source answering with a token whose secret differs (a hash
	// collision, a buggy source) is not trusted.
	src.tokens["x"] = &structs.ACLToken{AccessorID: "a3", SecretID: "y", Type: structs.ACLTokenTypeManagement}
	if _, _, err := r.Resolve(ctx, "x"); !errors.Is(err, ErrTokenNotFound) {
		t.Fatalf("mismatched secret accepted: %v", err)
	}
}

// BenchmarkResolveCached is the steady-state cost of the choke point's
// token resolution: hash the secret, hit the cache, compare in constant
// time, check expiry, fetch the compiled ACL.
func BenchmarkResolveCached(b *testing.B) {
	r := NewResolver(newCounting(), time.Hour, time.Hour)
	ctx := context.Background()
	if _, _, err := r.Resolve(ctx, "s1"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, _, err := r.Resolve(ctx, "s1"); err != nil {
			b.Fatal(err)
		}
	}
}
