// Package identity is workload identity: the JWTs the servers sign for a
// task (RS256 with the cluster keyring's signing key, Nomad's claims), and
// their verification when a task presents one as its token.
package identity

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orch-project/orch/structs"
)

// DefaultAudience is the audience of the default workload identity.
const DefaultAudience = "nomadproject.io"

// Claims are a workload identity's JWT claims, Nomad's names.
type Claims struct {
	Issuer    string   `json:"iss,omitempty"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp,omitempty"`
	ID        string   `json:"jti"`

	Namespace    string `json:"nomad_namespace"`
	JobID        string `json:"nomad_job_id"`
	AllocationID string `json:"nomad_allocation_id"`
	Group        string `json:"nomad_group,omitempty"`
	Task         string `json:"nomad_task,omitempty"`
}

// Workload returns the claims as the ACL system's workload.
func (c *Claims) Workload() structs.WorkloadClaims {
	return structs.WorkloadClaims{Namespace: c.Namespace, JobID: c.JobID, Group: c.Group, Task: c.Task}
}

// NewClaims builds the default identity's claims for a task of alloc.
func NewClaims(region, issuer string, alloc *structs.Allocation, task string, now time.Time) *Claims {
	ns := alloc.Namespace
	if ns == "" {
		ns = structs.DefaultNamespace
	}
	return &Claims{
		Issuer:   issuer,
		Subject:  strings.Join([]string{region, ns, alloc.JobID, alloc.TaskGroup, task, "default"}, ":"),
		Audience: []string{DefaultAudience}, IssuedAt: now.Unix(), NotBefore: now.Unix(),
		ID: structs.GenerateUUID(), Namespace: ns, JobID: alloc.JobID, AllocationID: alloc.ID,
		Group: alloc.TaskGroup, Task: task,
	}
}

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

var b64 = base64.RawURLEncoding

// Sign returns the compact JWT of claims, signed RS256 by key keyID.
func Sign(keyID string, key *rsa.PrivateKey, c *Claims) (string, error) {
	h, err := json.Marshal(header{Alg: "RS256", Kid: keyID, Typ: "JWT"})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing identity: %w", err)
	}
	return signing + "." + b64.EncodeToString(sig), nil
}

// LooksLikeJWT reports whether a token has a JWT's shape (three
// base64url parts), so resolvers can tell it from an ACL secret.
func LooksLikeJWT(tok string) bool {
	return strings.Count(tok, ".") == 2 && len(tok) > 20 && strings.HasPrefix(tok, "eyJ")
}

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("invalid workload identity")

// Verify checks a JWT's signature against the key its header names
// (keys maps key IDs to public keys), its time window and audience, and
// returns its claims.
func Verify(tok string, keys map[string]*rsa.PublicKey, now time.Time) (*Claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a JWT", ErrInvalid)
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrInvalid, err)
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrInvalid, err)
	}
	// Only RS256: a token naming "none" or an HMAC algorithm is refused
	// before any key is looked at.
	if h.Alg != "RS256" {
		return nil, fmt.Errorf("%w: algorithm %q", ErrInvalid, h.Alg)
	}
	pub := keys[h.Kid]
	if pub == nil {
		return nil, fmt.Errorf("%w: unknown signing key %q", ErrInvalid, h.Kid)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrInvalid, err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalid, err)
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalid, err)
	}
	const skew = 30 // seconds of clock skew tolerated
	if c.NotBefore > now.Unix()+skew {
		return nil, fmt.Errorf("%w: not valid yet", ErrInvalid)
	}
	if c.Expiry != 0 && c.Expiry < now.Unix()-skew {
		return nil, fmt.Errorf("%w: expired", ErrInvalid)
	}
	if c.AllocationID == "" || c.JobID == "" {
		return nil, fmt.Errorf("%w: missing allocation or job", ErrInvalid)
	}
	ok := false
	for _, a := range c.Audience {
		ok = ok || a == DefaultAudience
	}
	if !ok {
		return nil, fmt.Errorf("%w: audience %v is not %s", ErrInvalid, c.Audience, DefaultAudience)
	}
	return &c, nil
}

// KeyID returns the key ID a JWT's header names ("" when unreadable).
func KeyID(tok string) string {
	hdr, _, ok := strings.Cut(tok, ".")
	if !ok {
		return ""
	}
	hb, err := b64.DecodeString(hdr)
	if err != nil {
		return ""
	}
	var h header
	if json.Unmarshal(hb, &h) != nil {
		return ""
	}
	return h.Kid
}

// Expired reports whether claims that verified earlier have since expired.
func (c *Claims) Expired(now time.Time) bool {
	return c.Expiry != 0 && c.Expiry < now.Unix()-30
}
