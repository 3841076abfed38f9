package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Reads follow Nomad's three consistency modes (docs/architecture.md
// "Reads"):
//   - ?stale: any server answers from its own replica, once that replica
//     is restored; X-Nomad-LastContact and X-Nomad-KnownLeader say how
//     fresh it may be;
//   - default: the leader answers (followers forward), once it has applied
//     every entry of earlier terms;
//   - ?consistent: as default, and the leader confirms with a quorum that
//     it still leads before answering, so the read is linearizable.
type readMode int

const (
	readDefault readMode = iota
	readStale
	readConsistent
	// readLocal is for the agent's own status, which no replica state
	// backs: always answered by the agent asked.
	readLocal
)

func modeOf(r *http.Request) readMode {
	q := r.URL.Query()
	if _, ok := q["consistent"]; ok {
		return readConsistent
	}
	if v, ok := q["stale"]; ok && (len(v) == 0 || v[0] != "false") {
		return readStale
	}
	return readDefault
}

// ReadConsistency is implemented by backends that replicate state (the
// real server); the HTTP layer asks it before answering a read. Backends
// without it are treated as a lone, always-current leader.
type ReadConsistency interface {
	// StateRestored reports whether the replica holds at least what it
	// held before the server (re)started.
	StateRestored() bool
	// AwaitLeaderReady waits until this server leads with a state holding
	// every acknowledged write.
	AwaitLeaderReady(ctx context.Context) error
	// ConsistentRead is AwaitLeaderReady plus a quorum check that this
	// server still leads.
	ConsistentRead(ctx context.Context) error
	KnownLeader() bool
	// LastContact is the time since the leader was last heard from: 0 on
	// the leader, negative when never.
	LastContact() time.Duration
	// WaitForIndex waits until the replica has applied index.
	WaitForIndex(ctx context.Context, index uint64) error
}

func (s *Server) consistency() (ReadConsistency, bool) {
	rc, ok := s.srv.(ReadConsistency)
	return rc, ok
}

// errNoLeader is Nomad's answer when a read or write needs a leader and
// none is known.
var errNoLeader = codedErr(http.StatusInternalServerError, "No cluster leader")

// routeRead decides whether this agent answers r itself (nil, false),
// forwards it to the leader (nil, true), or fails it.
func (s *Server) routeRead(r *http.Request, mode readMode) (bool, error) {
	rc, replicated := s.consistency()
	canForward := hops(r) < maxForwardHops && s.srv.LeaderHTTPAddr() != ""
	switch mode {
	case readLocal:
		return false, nil
	case readStale:
		if !replicated || rc.StateRestored() {
			return false, nil
		}
		// A restarting server's replica is partial: the leader answers.
		if canForward && !s.srv.IsLeader() {
			return true, nil
		}
		return false, codedErr(http.StatusServiceUnavailable, "server state not restored yet; no leader to forward the read to")
	default:
		if s.srv.IsLeader() {
			return false, nil
		}
		if canForward {
			return true, nil
		}
		return false, errNoLeader
	}
}

// checkRead runs just before a read is answered from the local state.
func (s *Server) checkRead(ctx context.Context, mode readMode) error {
	rc, ok := s.consistency()
	if !ok {
		return nil
	}
	var err error
	switch mode {
	case readDefault:
		err = rc.AwaitLeaderReady(ctx)
	case readConsistent:
		err = rc.ConsistentRead(ctx)
	}
	if err != nil {
		if ctx.Err() == nil {
			// Deposed or not yet established: like Nomad, no leader.
			var sc StatusCoder
			if !errors.As(err, &sc) || sc.StatusCode() == http.StatusServiceUnavailable {
				return errNoLeader
			}
		}
		return err
	}
	return nil
}

// setMeta sets the query metadata headers. X-Nomad-KnownLeader and
// X-Nomad-LastContact describe this server's view, so a stale reader can
// judge the answer's freshness (LastContact in milliseconds, 0 on the
// leader).
func (s *Server) setMeta(w http.ResponseWriter, idx uint64) {
	h := w.Header()
	h.Set("X-Nomad-Index", strconv.FormatUint(idx, 10))
	known, contact := true, time.Duration(0)
	if rc, ok := s.consistency(); ok {
		known, contact = rc.KnownLeader(), rc.LastContact()
	} else if s.srv != nil {
		known = s.srv.IsLeader() || s.srv.LeaderHTTPAddr() != "" || s.srv.Leader() != ""
	}
	h.Set("X-Nomad-KnownLeader", strconv.FormatBool(known))
	ms := contact.Milliseconds()
	if contact < 0 {
		// Never heard from a leader since starting: as stale as it gets.
		ms = int64(^uint32(0) >> 1)
	}
	h.Set("X-Nomad-LastContact", strconv.FormatInt(ms, 10))
}

// A request's deadline travels with it, so an agent drops a request whose
// caller has given up instead of acting on it later: a write that has
// waited past its deadline (in a queue, in a paused or partitioned agent's
// socket) is refused with 504 before it reaches Raft.
//
//   - TimeoutHeader is set by API callers (the api package sets it from
//     its context): the milliseconds they will wait, counted from when
//     the first agent receives the request.
//   - DeadlineHeader is set by agents when they forward a request: the
//     absolute deadline in Unix milliseconds. Relative time would restart
//     at every hop and hide time spent queued; absolute time assumes the
//     servers' clocks agree to well within a request's timeout (they are
//     expected to run NTP, as Raft's timeouts already assume).
const (
	TimeoutHeader  = "X-Orch-Timeout-Ms"
	DeadlineHeader = "X-Orch-Deadline"
)

var errDeadlinePassed = codedErr(http.StatusGatewayTimeout, "request deadline passed before the request was handled; it was not applied")

// withCallerDeadline gives r the deadline its headers name.
func withCallerDeadline(r *http.Request) (*http.Request, context.CancelFunc, error) {
	var deadline time.Time
	if v := r.Header.Get(DeadlineHeader); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return r, func() {}, codedErr(http.StatusBadRequest, "Invalid %s header %q", DeadlineHeader, v)
		}
		deadline = time.UnixMilli(ms)
	} else if v := r.Header.Get(TimeoutHeader); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return r, func() {}, codedErr(http.StatusBadRequest, "Invalid %s header %q", TimeoutHeader, v)
		}
		deadline = time.Now().Add(time.Duration(ms) * time.Millisecond)
	} else {
		return r, func() {}, nil
	}
	if !time.Now().Before(deadline) {
		return r, func() {}, errDeadlinePassed
	}
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	return r.WithContext(ctx), cancel, nil
}
