package server

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// contactTransport is the Raft transport with one addition: it records
// when this server last accepted an AppendEntries or InstallSnapshot, i.e.
// when a leader last reached it. Raft's own LastContact also moves when
// this server grants a vote, and a vote proves nothing about any leader's
// quorum: a client counting on "no leader reached a majority for a while"
// (Node.Contact, leader_contact.go) must not have that reset by an
// election.
type contactTransport struct {
	*raft.NetworkTransport
	base time.Time
	// last is the time (ns after base) of the last accepted entry
	// append or snapshot; 0: none since start.
	last atomic.Int64
	ch   chan raft.RPC
	done chan struct{}
	once sync.Once
}

func newContactTransport(t *raft.NetworkTransport) *contactTransport {
	c := &contactTransport{NetworkTransport: t, base: time.Now(), ch: make(chan raft.RPC), done: make(chan struct{})}
	go c.relay()
	return c
}

// Consumer is what Raft reads requests from: the inner transport's, with
// their answers watched.
func (c *contactTransport) Consumer() <-chan raft.RPC { return c.ch }

func (c *contactTransport) relay() {
	in := c.NetworkTransport.Consumer()
	for {
		select {
		case <-c.done:
			return
		case rpc := <-in:
			c.watch(&rpc)
			select {
			case c.ch <- rpc:
			case <-c.done:
				return
			}
		}
	}
}

// SetHeartbeatHandler wraps Raft's fast path for heartbeats, which
// bypasses Consumer.
func (c *contactTransport) SetHeartbeatHandler(cb func(rpc raft.RPC)) {
	if cb == nil {
		c.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	c.NetworkTransport.SetHeartbeatHandler(func(rpc raft.RPC) {
		c.watch(&rpc)
		cb(rpc)
	})
}

// watch interposes on the answer to an AppendEntries or InstallSnapshot
// and records a successful one when it is sent.
func (c *contactTransport) watch(rpc *raft.RPC) {
	switch rpc.Command.(type) {
	case *raft.AppendEntriesRequest, *raft.InstallSnapshotRequest:
	default:
		return
	}
	orig := rpc.RespChan
	mine := make(chan raft.RPCResponse, 1)
	rpc.RespChan = mine
	go func() {
		var resp raft.RPCResponse
		select {
		case resp = <-mine:
		case <-c.done: // Raft shut down without answering
			return
		}
		ok := false
		switch r := resp.Response.(type) {
		case *raft.AppendEntriesResponse:
			ok = r.Success
		case *raft.InstallSnapshotResponse:
			ok = r.Success
		}
		if ok && resp.Error == nil {
			c.noteContact(max(int64(time.Since(c.base)), 1))
		}
		orig <- resp
	}()
}

// noteContact records a leader's contact at ns after base. Answers are
// watched by one goroutine each, which may finish out of order; storing
// an earlier time over a later one would overstate this server's silence,
// the unsafe direction for a client's proof that no leader can mark it
// down.
func (c *contactTransport) noteContact(ns int64) {
	for {
		old := c.last.Load()
		if old >= ns || c.last.CompareAndSwap(old, ns) {
			return
		}
	}
}

// lastLeaderContact is when a leader last reached this server (zero: not
// since this process started).
func (c *contactTransport) lastLeaderContact() time.Time {
	ns := c.last.Load()
	if ns == 0 {
		return time.Time{}
	}
	return c.base.Add(time.Duration(ns))
}

// Close stops the relay and the inner transport.
func (c *contactTransport) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.NetworkTransport.Close()
}
