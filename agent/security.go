package agent

import (
	"net"
	"strings"
)

// insecurities lists what an agent listening beyond loopback leaves open:
// API callers without ACLs, plaintext HTTP and RPC, unencrypted gossip. It
// is empty in -dev (loopback only) and on a loopback bind.
func (a *Agent) insecurities() []string {
	c := a.cfg
	if c.Dev {
		return nil
	}
	if ip := net.ParseIP(c.BindAddr); ip != nil && ip.IsLoopback() {
		return nil
	}
	var out []string
	if !c.ACL.Enabled {
		out = append(out, "ACLs are disabled: anyone who reaches the HTTP API may submit jobs and read every job's secrets (acl { enabled = true })")
	}
	if !c.TLS.HTTP {
		out = append(out, "the HTTP API is plaintext: tokens and secrets cross the network in the clear (tls { http = true })")
	}
	if !c.TLS.RPC {
		out = append(out, "the RPC port is plaintext and unauthenticated: any host that reaches it can talk Raft and pose as a server (tls { rpc = true })")
	}
	if a.pool != nil && !a.pool.Encrypted() {
		out = append(out, "gossip is not encrypted: any host that reaches the gossip port can join the pool (server { encrypt })")
	}
	return out
}

// warnInsecure logs, in one warning, every hole left open; see
// docs/security.md.
func (a *Agent) warnInsecure() {
	holes := a.insecurities()
	if len(holes) == 0 {
		return
	}
	a.logger.Warn("agent listens on a non-loopback address without protection; see docs/security.md",
		"bind", a.cfg.BindAddr, "open", strings.Join(holes, "; "))
}
