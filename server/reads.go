package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The read side of the server: what the HTTP layer asks before answering a
// read in each of Nomad's three modes (see docs/architecture.md "Reads").
//
//   - stale: any server answers from its replica once its state is
//     restored (StateRestored), telling how fresh it is (LastContact,
//     KnownLeader);
//   - default: the leader answers, once it has applied every entry of
//     earlier terms (AwaitLeaderReady); followers forward to it;
//   - consistent: as default, and the leader first confirms with a quorum
//     that it still leads (ConsistentRead), so a deposed leader never
//     answers.

// leaderGate tracks whether this server is a leader ready for reads, with a
// channel closed on every change so waiters need not poll.
type leaderGate struct {
	mu    sync.Mutex
	ready bool
	ch    chan struct{}
}

func newLeaderGate() *leaderGate { return &leaderGate{ch: make(chan struct{})} }

func (g *leaderGate) set(ready bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ready == ready {
		return
	}
	g.ready = ready
	close(g.ch)
	g.ch = make(chan struct{})
}

func (g *leaderGate) get() (bool, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ready, g.ch
}

// LeaderReady reports whether this server leads with its state ready, and
// returns a channel closed at the next change of that. A client in the
// same agent waits on it instead of a retry timer while no leader exists.
func (s *Server) LeaderReady() (bool, <-chan struct{}) { return s.readGate.get() }

// leaderReadyWait bounds how long a read waits for a new leader to finish
// applying earlier terms' entries.
const leaderReadyWait = 5 * time.Second

// AwaitLeaderReady waits until this server leads and has applied every
// entry of earlier terms, so its state holds every acknowledged write. It
// fails with ErrNotLeader when this server does not lead.
func (s *Server) AwaitLeaderReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, leaderReadyWait)
	defer cancel()
	for {
		ready, ch := s.readGate.get()
		if !s.IsLeader() {
			return ErrNotLeader
		}
		if ready {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: leadership not yet established", ErrNotLeader)
		}
	}
}

// ConsistentRead makes the next read of the local state linearizable: it
// waits until this leader's state holds every acknowledged write (writes
// are acknowledged only once the leader applied them, and a new leader
// applies earlier terms' entries before it is ready) and then proves with
// a quorum that it still leads, so no newer leader can have acknowledged
// writes it lacks.
//
// The proof is a barrier entry committed in this term, not
// raft.VerifyLeader: VerifyLeader counts any AppendEntries response that
// arrives after the call, including responses to requests sent before it
// (a leader paused past an election finds them buffered in its sockets on
// resuming), so it can vouch for a leader that has been deposed. A
// barrier can only commit through a quorum accepting an entry appended
// after the read began. Raft batches concurrent barriers into one append.
func (s *Server) ConsistentRead(ctx context.Context) error {
	if err := s.AwaitLeaderReady(ctx); err != nil {
		return err
	}
	timeout := leaderReadyWait
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := s.raft.Barrier(timeout).Error(); err != nil {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	return nil
}

// StateRestored reports whether this server's replica holds at least what
// it held before it (re)started: everything in its own Raft log has been
// applied. Until then a stale read would answer from a partial state, with
// an index lower than it answered before the restart.
func (s *Server) StateRestored() bool {
	if s.restored.Load() {
		return true
	}
	if s.fsm.AppliedIndex() >= s.restoreTarget {
		s.restored.Store(true)
		return true
	}
	return false
}

// KnownLeader reports whether this server knows a current leader.
func (s *Server) KnownLeader() bool {
	addr, _ := s.raft.LeaderWithID()
	return addr != ""
}

// LastContact is how long ago this server last heard from the leader: 0 on
// the leader, -1 when it never has since it started.
func (s *Server) LastContact() time.Duration {
	if s.raft.State() == raft.Leader {
		return 0
	}
	t := s.raft.LastContact()
	if t.IsZero() {
		return -1
	}
	return time.Since(t)
}

// WaitForIndex waits until this server's state has applied index, so a
// stale read after a forwarded write sees the write. The FSM wakes it as it
// applies, with no polling.
func (s *Server) WaitForIndex(ctx context.Context, index uint64) error {
	return s.fsm.WaitForIndex(ctx, index)
}
