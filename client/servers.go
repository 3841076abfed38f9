package client

import (
	"net"
	"slices"
	"sync"
)

// DefaultRPCPort is the servers' RPC port, where the control channel runs.
const DefaultRPCPort = "4647"

// serverSet merges what the client knows of the servers' RPC addresses:
// the configured ones, those the servers listed in their last heartbeat
// reply, and those gossip reports. The control client fails over across
// the union.
type serverSet struct {
	mu         sync.Mutex
	configured []string
	learned    []string
	gossiped   []string
	apply      func([]string)
}

func newServerSet(configured []string, apply func([]string)) *serverSet {
	s := &serverSet{configured: normalizeServers(configured), apply: apply}
	s.push()
	return s
}

// normalizeServers gives each address the default RPC port when it has
// none.
func normalizeServers(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(a, DefaultRPCPort)
		}
		out = append(out, a)
	}
	return out
}

func (s *serverSet) setLearned(addrs []string) {
	s.mu.Lock()
	s.learned = normalizeServers(addrs)
	s.mu.Unlock()
	s.push()
}

func (s *serverSet) setGossiped(addrs []string) {
	s.mu.Lock()
	s.gossiped = normalizeServers(addrs)
	s.mu.Unlock()
	s.push()
}

// all is the union, configured servers first.
func (s *serverSet) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.configured...)
	var rest []string
	for _, l := range [][]string{s.learned, s.gossiped} {
		for _, a := range l {
			if !slices.Contains(out, a) && !slices.Contains(rest, a) {
				rest = append(rest, a)
			}
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func (s *serverSet) push() {
	if s.apply != nil {
		s.apply(s.all())
	}
}
