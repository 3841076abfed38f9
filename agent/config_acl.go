package agent

import (
	"fmt"
	"time"
)

// ACLConfig is the agent's `acl { ... }` block.
type ACLConfig struct {
	Enabled bool
	// TokenTTL and PolicyTTL bound how long a client agent trusts a token
	// or policy it resolved through the servers (Nomad's token_ttl,
	// policy_ttl; role_ttl is folded into PolicyTTL).
	TokenTTL  time.Duration
	PolicyTTL time.Duration
}

type aclBlock struct {
	Enabled   *bool   `hcl:"enabled"`
	TokenTTL  *string `hcl:"token_ttl"`
	PolicyTTL *string `hcl:"policy_ttl"`
	RoleTTL   *string `hcl:"role_ttl"`
}

func (c *Config) applyACLBlock(b *aclBlock) error {
	if b == nil {
		return nil
	}
	if b.Enabled != nil {
		c.ACL.Enabled = *b.Enabled
	}
	for _, d := range []struct {
		name string
		v    *string
		dst  *time.Duration
	}{{"token_ttl", b.TokenTTL, &c.ACL.TokenTTL}, {"policy_ttl", b.PolicyTTL, &c.ACL.PolicyTTL}, {"role_ttl", b.RoleTTL, &c.ACL.PolicyTTL}} {
		if d.v == nil {
			continue
		}
		dur, err := time.ParseDuration(*d.v)
		if err != nil || dur <= 0 {
			return fmt.Errorf("acl.%s: invalid duration %q", d.name, *d.v)
		}
		if d.name != "role_ttl" || *d.dst == 0 || dur < *d.dst {
			*d.dst = dur
		}
	}
	return nil
}
