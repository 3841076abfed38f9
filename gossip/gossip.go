// Package gossip is the membership pool every agent joins, server or client.
// Members advertise tags (role, region, datacenter, HTTP and Raft addresses,
// node ID); servers learn their peers from it and clients learn the servers.
// Failure detection is memberlist's: a member that stops answering probes is
// declared dead and subscribers hear about it.
package gossip

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultPort is the gossip port when an address names none.
const DefaultPort = 4648

// Config configures a Pool.
type Config struct {
	// Name is unique in the pool; the agent's -node name.
	Name string
	// BindAddr is the address gossip listens on and advertises.
	BindAddr string
	Port     int
	Tags     map[string]string
	// Fast tunes probes for a single machine (dev mode): quicker failure
	// detection at the cost of more traffic.
	Fast   bool
	Logger *slog.Logger
	// EncryptKey (base64, 16/24/32 bytes) encrypts gossip; KeyringFile
	// persists the keyring across restarts and key rotations, and takes
	// precedence over EncryptKey once written.
	EncryptKey  string
	KeyringFile string
}

// Member statuses.
const (
	StatusAlive   = "alive"
	StatusLeaving = "leaving"
	StatusLeft    = "left"
	StatusFailed  = "failed"
)

// Member is one agent in the pool.
type Member struct {
	Name   string
	Addr   string
	Port   uint16
	Tags   map[string]string
	Status string
}

// EventType says what happened to a member.
type EventType int

// Event types.
const (
	EventJoin EventType = iota
	EventLeave
	EventFailed
	EventUpdate
)

// Event is a membership change.
type Event struct {
	Type   EventType
	Member Member
}

// Pool is this agent's view of the gossip pool.
type Pool struct {
	ml     *memberlist.Memberlist
	logger *slog.Logger

	mu   sync.Mutex
	tags []byte
	subs []*subscriber
	// members is this agent's view of the pool, copied from memberlist's
	// callbacks: memberlist mutates the nodes Members() returns without
	// holding a lock the caller could take, so reading them races.
	members map[string]Member
	self    string

	keyring     *memberlist.Keyring
	keyringFile string
	keyMu       sync.Mutex
}

// New starts gossip on cfg.BindAddr:cfg.Port.
func New(cfg Config) (*Pool, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Pool{logger: cfg.Logger.With("component", "gossip"), members: map[string]Member{}, self: cfg.Name}
	tags, err := encodeTags(cfg.Tags)
	if err != nil {
		return nil, err
	}
	p.tags = tags

	mc := memberlist.DefaultLANConfig()
	if cfg.Fast {
		mc = memberlist.DefaultLocalConfig()
	}
	// Small pools rarely produce the peer confirmations memberlist waits
	// for before declaring a suspect dead, so the maximum suspicion time
	// is what a dead client costs; cap it near the minimum so a dead node
	// is noticed in seconds (LAN: 4-8 s), not tens of seconds.
	mc.SuspicionMaxTimeoutMult = 2
	mc.Name = cfg.Name
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.Port
	mc.AdvertiseAddr = cfg.BindAddr
	mc.AdvertisePort = cfg.Port
	mc.Delegate = (*delegate)(p)
	mc.Events = (*events)(p)
	mc.Logger = newMemberlistLogger(p.logger)
	kr, err := loadKeyring(cfg.KeyringFile, cfg.EncryptKey)
	if err != nil {
		return nil, err
	}
	if kr != nil {
		// Both directions verified: a peer without a key in the keyring
		// can neither read the pool nor be heard by it.
		mc.Keyring, mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = kr, true, true
		p.keyring, p.keyringFile = kr, cfg.KeyringFile
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("starting gossip on %s: %w", net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.Port)), err)
	}
	p.ml = ml
	return p, nil
}

// Join contacts the given addresses ("host" or "host:port") and merges pools.
func (p *Pool) Join(addrs []string) (int, error) {
	norm := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(a, strconv.Itoa(DefaultPort))
		}
		norm = append(norm, a)
	}
	n, err := p.ml.Join(norm)
	if err != nil {
		return n, fmt.Errorf("joining gossip pool via %v: %w", norm, err)
	}
	return n, nil
}

// Members returns every member this agent knows of, alive or not.
func (p *Pool) Members() []Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Member, 0, len(p.members))
	for _, m := range p.members {
		out = append(out, m)
	}
	return out
}

// LocalMember returns this agent's own entry.
func (p *Pool) LocalMember() Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.members[p.self]
}

// SetTags replaces this agent's tags and gossips the change.
func (p *Pool) SetTags(tags map[string]string) error {
	b, err := encodeTags(tags)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.tags = b
	p.mu.Unlock()
	return p.ml.UpdateNode(5 * time.Second)
}

// Subscribe returns a channel of membership events. Events are queued
// without bound so a slow subscriber never stalls gossip.
func (p *Pool) Subscribe() <-chan Event {
	s := newSubscriber()
	p.mu.Lock()
	p.subs = append(p.subs, s)
	p.mu.Unlock()
	return s.out
}

// tagLeaving marks an agent that is leaving on purpose. memberlist's
// callbacks do not say reliably whether a member left or failed, so the
// leaving agent gossips its intent first.
const tagLeaving = "leaving"

// Leave announces a graceful departure, then stops gossip.
func (p *Pool) Leave(timeout time.Duration) error {
	p.mu.Lock()
	tags := decodeTags(p.tags)
	p.mu.Unlock()
	tags[tagLeaving] = "1"
	if err := p.SetTags(tags); err != nil {
		p.logger.Warn("announcing departure", "error", err)
	}
	if err := p.ml.Leave(timeout); err != nil {
		p.logger.Warn("leaving gossip pool", "error", err)
	}
	return p.Shutdown()
}

// Shutdown stops gossip without announcing it, as a crash would.
func (p *Pool) Shutdown() error {
	err := p.ml.Shutdown()
	p.mu.Lock()
	for _, s := range p.subs {
		s.close()
	}
	p.subs = nil
	p.mu.Unlock()
	return err
}

func (p *Pool) publish(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.members[e.Member.Name] = e.Member
	for _, s := range p.subs {
		s.push(e)
	}
}

func toMember(n *memberlist.Node) Member {
	// Called from memberlist's callbacks, which hold its node lock, so
	// the fields are read consistently and copied out.
	m := Member{Name: n.Name, Addr: n.Addr.String(), Port: n.Port, Tags: decodeTags(n.Meta)}
	// Node.State is not kept current by memberlist; callers set the status
	// from the callback that delivered the node.
	m.Status = StatusAlive
	if m.Tags[tagLeaving] != "" {
		m.Status = StatusLeaving
	}
	return m
}

func encodeTags(tags map[string]string) ([]byte, error) {
	b, err := json.Marshal(tags)
	if err != nil {
		return nil, fmt.Errorf("encoding gossip tags: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("gossip tags are %d bytes, more than memberlist's %d", len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

func decodeTags(b []byte) map[string]string {
	tags := map[string]string{}
	if len(b) > 0 {
		_ = json.Unmarshal(b, &tags) // a peer with unreadable tags is treated as untagged
	}
	return tags
}

// delegate serves this agent's tags to memberlist.
type delegate Pool

func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.tags) > limit {
		return nil
	}
	return d.tags
}
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// events turns memberlist callbacks into Events.
type events Pool

func (e *events) NotifyJoin(n *memberlist.Node) {
	(*Pool)(e).publish(Event{Type: EventJoin, Member: toMember(n)})
}

func (e *events) NotifyLeave(n *memberlist.Node) {
	p := (*Pool)(e)
	m := toMember(n)
	p.mu.Lock()
	prev, known := p.members[m.Name]
	p.mu.Unlock()
	t, status := EventFailed, StatusFailed
	if m.Tags[tagLeaving] != "" || (known && prev.Tags[tagLeaving] != "") {
		t, status = EventLeave, StatusLeft
	}
	m.Status = status
	p.publish(Event{Type: t, Member: m})
}

func (e *events) NotifyUpdate(n *memberlist.Node) {
	(*Pool)(e).publish(Event{Type: EventUpdate, Member: toMember(n)})
}

// subscriber is an unbounded queue in front of a channel.
type subscriber struct {
	mu     sync.Mutex
	queue  []Event
	wake   chan struct{}
	out    chan Event
	closed bool
	// done lets close unblock a send no reader will take (the reader
	// exits on shutdown), so the goroutine never leaks.
	done chan struct{}
}

func newSubscriber() *subscriber {
	s := &subscriber{wake: make(chan struct{}, 1), out: make(chan Event), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *subscriber) push(e Event) {
	s.mu.Lock()
	if !s.closed {
		s.queue = append(s.queue, e)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) close() {
	s.mu.Lock()
	if !s.closed {
		close(s.done)
	}
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) run() {
	defer close(s.out)
	for range s.wake {
		for {
			s.mu.Lock()
			if len(s.queue) == 0 {
				closed := s.closed
				s.mu.Unlock()
				if closed {
					return
				}
				break
			}
			e := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			select {
			case s.out <- e:
			case <-s.done:
				return
			}
		}
	}
}
