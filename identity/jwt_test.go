package identity

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

func TestSignVerify(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	keys := map[string]*rsa.PublicKey{"k1": &k1.PublicKey}
	now := time.Unix(1_700_000_000, 0)
	alloc := &structs.Allocation{ID: structs.GenerateUUID(), JobID: "web", TaskGroup: "g"}
	c := NewClaims("global", "", alloc, "t", now)
	if c.Subject != "global:default:web:g:t:default" || c.Namespace != "default" {
		t.Fatalf("claims: %+v", c)
	}
	jwt, err := Sign("k1", k1, c)
	if err != nil || !LooksLikeJWT(jwt) {
		t.Fatalf("sign: %q %v", jwt, err)
	}
	got, err := Verify(jwt, keys, now)
	if err != nil || got.AllocationID != alloc.ID || got.Task != "t" {
		t.Fatalf("verify: %+v %v", got, err)
	}
	wrong, _ := Sign("k1", k2, c) // claims key k1 but signed by k2
	unknown, _ := Sign("k9", k1, c)
	exp := *c
	exp.Expiry = now.Add(-time.Hour).Unix()
	expired, _ := Sign("k1", k1, &exp)
	aud := *c
	aud.Audience = []string{"vault.io"}
	otherAud, _ := Sign("k1", k1, &aud)
	future := *c
	future.NotBefore = now.Add(time.Hour).Unix()
	early, _ := Sign("k1", k1, &future)
	for name, tok := range map[string]string{"wrong key": wrong, "unknown kid": unknown, "expired": expired,
		"other audience": otherAud, "not yet valid": early, "garbage": "eyJ.x.y"} {
		if _, err := Verify(tok, keys, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// BenchmarkVerify is what presenting a workload identity costs a server
// per request (an RS256 verification; it is not cached because the
// allocation's liveness is checked every time).
func BenchmarkVerify(b *testing.B) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	keys := map[string]*rsa.PublicKey{"k": &k.PublicKey}
	now := time.Now()
	jwt, _ := Sign("k", k, NewClaims("global", "", &structs.Allocation{ID: "a", JobID: "j", TaskGroup: "g"}, "t", now))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := Verify(jwt, keys, now); err != nil {
			b.Fatal(err)
		}
	}
}
