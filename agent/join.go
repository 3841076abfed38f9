package agent

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/structs"
)

// DefaultRetryInterval is how often the rejoin loop runs, as Nomad's
// retry_interval.
const DefaultRetryInterval = 30 * time.Second

// startupJoinInterval paces join attempts until the agent first joins
// anyone: servers wait for each other to bootstrap.
const startupJoinInterval = 2 * time.Second

// rejoinLoop keeps the agent in the gossip pool for its whole life, not
// just at start: memberlist never contacts a member it declared dead again,
// so after a partition each side would stay alone for good. Every
// RetryInterval it joins whatever it should see and does not see alive:
// the configured addresses, the servers its client last heard of, and
// members it saw fail (as Serf's reconnect does). It gives up only after
// RetryMax consecutive failed attempts when RetryMax is set.
func (a *Agent) rejoinLoop(ctx context.Context) {
	defer a.wg.Done()
	interval := a.cfg.RetryInterval
	if interval <= 0 {
		interval = DefaultRetryInterval
	}
	joined, failures := false, 0
	for {
		targets := a.joinTargets()
		if len(targets) > 0 {
			if n, err := a.pool.Join(targets); err != nil {
				if a.alivePeers() > 0 {
					// Only some targets are gone (a decommissioned
					// member): the agent is not cut off.
					joined, failures = true, 0
					a.logger.Debug("rejoining some gossip members failed", "addrs", targets, "error", err)
					goto wait
				}
				failures++
				level := a.logger.Debug
				if !joined || failures%10 == 1 {
					level = a.logger.Warn
				}
				level("joining gossip pool failed", "addrs", targets, "attempt", failures, "error", err)
				if a.cfg.RetryMax > 0 && failures >= a.cfg.RetryMax {
					a.logger.Error("giving up joining the gossip pool: retry_max reached", "addrs", targets, "retry_max", a.cfg.RetryMax)
					return
				}
			} else {
				if !joined || failures > 0 {
					a.logger.Info("joined gossip pool", "contacted", n)
				}
				joined, failures = true, 0
			}
		}
	wait:
		wait := interval
		if !joined {
			wait = min(interval, startupJoinInterval)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// alivePeers counts the other members this agent sees alive.
func (a *Agent) alivePeers() int {
	n := 0
	for _, m := range a.pool.Members() {
		if m.Status == gossip.StatusAlive && m.Name != a.cfg.NodeName {
			n++
		}
	}
	return n
}

// joinTargets lists the gossip addresses to join now: configured ones,
// servers the client heard of and failed members, unless already alive in
// this agent's view.
func (a *Agent) joinTargets() []string {
	members := a.pool.Members()
	alive := map[string]bool{}
	for _, m := range members {
		if m.Status == gossip.StatusAlive && m.Name != a.cfg.NodeName {
			alive[net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))] = true
		}
	}
	var out []string
	add := func(addr string) {
		addr = gossipAddr(addr)
		if addr != "" && !alive[addr] && !slices.Contains(out, addr) && addr != a.selfGossipAddr() {
			out = append(out, addr)
		}
	}
	for _, j := range a.cfg.Join {
		add(j)
	}
	if a.client != nil {
		learned := a.client.ServerInfos()
		for _, s := range learned {
			add(s.SerfAddr)
		}
		if len(learned) == 0 {
			// Until the client has heard from a server, guess the
			// servers' gossip port on the hosts it was given.
			for _, s := range a.cfg.Servers {
				if host, _, err := net.SplitHostPort(s); err == nil {
					add(host)
				} else {
					add(s)
				}
			}
		}
	}
	for _, m := range members {
		if m.Status == gossip.StatusFailed && (m.Tags[structs.TagRole] == "server" || a.server != nil) {
			add(net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port))))
		}
	}
	return out
}

// gossipAddr gives an address the default gossip port when it has none;
// addresses that do not resolve to an IP literal are kept as given.
func gossipAddr(addr string) string {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, strconv.Itoa(gossip.DefaultPort))
	}
	return addr
}

func (a *Agent) selfGossipAddr() string {
	return net.JoinHostPort(a.cfg.BindAddr, strconv.Itoa(a.cfg.SerfPort))
}
