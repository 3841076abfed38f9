package httpapi

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/state"
)

const (
	defaultBlockingWait = 5 * time.Minute
	maxBlockingWait     = 10 * time.Minute
	forwardedHeader     = "X-Orch-Forwarded"
)

// queryFunc runs one read against the store, registering what it looked at
// in ws. It returns the result's index: the highest index of the tables the
// result depends on.
type queryFunc func(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error)

type blockingParams struct {
	minIndex uint64
	wait     time.Duration
}

func parseBlocking(r *http.Request) (blockingParams, error) {
	var p blockingParams
	q := r.URL.Query()
	if v := q.Get("index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return p, codedErr(http.StatusBadRequest, "Invalid index %q", v)
		}
		p.minIndex = n
	}
	p.wait = defaultBlockingWait
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			// Nomad also accepts a bare number of seconds.
			n, nerr := strconv.ParseUint(v, 10, 32)
			if nerr != nil {
				return p, codedErr(http.StatusBadRequest, "Invalid wait time %q", v)
			}
			d = time.Duration(n) * time.Second
		}
		if d > 0 {
			p.wait = d
		}
	}
	if p.wait > maxBlockingWait {
		p.wait = maxBlockingWait
	}
	// Jitter spreads the wake-ups of many watchers that started together.
	p.wait += rand.N(p.wait/16 + 1)
	return p, nil
}

// read wraps a query as a (possibly blocking) GET handler answered in the
// request's consistency mode (see reads.go).
func (s *Server) read(fn queryFunc) http.HandlerFunc {
	return s.readIn(nil, fn)
}

// readStale wraps a query that is always answered from the local replica
// (once restored): the control endpoints clients poll.
func (s *Server) readStale(fn queryFunc) http.HandlerFunc {
	stale := readStale
	return s.readIn(&stale, fn)
}

// readLocal wraps a query about the agent itself (its view of the leader,
// peers, members), answered locally at any time.
func (s *Server) readLocal(fn queryFunc) http.HandlerFunc {
	local := readLocal
	return s.readIn(&local, fn)
}

func (s *Server) readIn(force *readMode, fn queryFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		mode := modeOf(r)
		if force != nil {
			mode = *force
		}
		forward, err := s.routeRead(r, mode)
		if err != nil {
			writeError(w, err)
			return
		}
		if forward {
			if mode == readStale {
				// Forwarded because this replica is still restoring:
				// answer once it has applied what the leader answered,
				// so its own later answers never carry a lower index.
				r = r.WithContext(context.WithValue(r.Context(), awaitIndexKey{}, s.awaitLocalIndex))
			}
			s.forwardToLeader(w, r)
			return
		}
		p, err := parseBlocking(r)
		if err != nil {
			writeError(w, err)
			return
		}
		st := s.srv.State()
		ctx := r.Context()
		var deadline context.CancelFunc = func() {}
		if p.minIndex > 0 {
			ctx, deadline = context.WithTimeout(ctx, p.wait)
		}
		defer deadline()
		for {
			// Checked before each snapshot: the leadership the check
			// confirms must precede the state it vouches for.
			if err := s.checkRead(r.Context(), mode); err != nil {
				writeError(w, err)
				return
			}
			ws := memdb.NewWatchSet()
			// One snapshot per run keeps the result and its index consistent.
			idx, out, err := fn(r, ws, st.Snapshot())
			if err != nil {
				writeError(w, err)
				return
			}
			if idx < 1 {
				idx = 1
			}
			if p.minIndex == 0 || idx > p.minIndex || ctx.Err() != nil {
				if r.Context().Err() != nil {
					return // the caller is gone
				}
				s.setMeta(w, idx)
				if p, ok := out.(pagedReply); ok {
					if p.next != "" {
						w.Header().Set("X-Nomad-NextToken", p.next)
					}
					out = p.items
				}
				writeJSON(w, r, http.StatusOK, out)
				return
			}
			// On timeout the loop runs the query once more and answers
			// with whatever is current, as Nomad does.
			_ = ws.WatchCtx(ctx)
		}
	}
}

// maxIndex returns the highest write index of the given tables.
func maxIndex(st *state.Snapshot, tables ...string) (uint64, error) {
	var max uint64
	for _, t := range tables {
		i, err := st.Index(t)
		if err != nil {
			return 0, err
		}
		if i > max {
			max = i
		}
	}
	return max, nil
}
