package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/structs"
)

// The workload: workers register (create or update), deregister (purge)
// and read a handful of job IDs through servers picked at random,
// recording every operation with its invocation and response times.

type opKind uint8

const (
	opRegister opKind = iota
	opDeregister
	opRead
)

type readMode uint8

const (
	readDefault readMode = iota
	readConsistent
	readStale
	// readFinal is a read of a replica after the run, once every server
	// has applied the same index: as current as a linearizable read.
	readFinal
)

func (m readMode) query() string {
	switch m {
	case readConsistent:
		return "?consistent"
	case readStale, readFinal:
		return "?stale"
	}
	return ""
}

func (m readMode) String() string {
	return [...]string{"default", "consistent", "stale", "final"}[m]
}

// op is one operation of the history. Times are nanoseconds since the
// run's start; an outcome-unknown write has ret == never.
type op struct {
	worker int
	kind   opKind
	mode   readMode
	key    string
	value  string // written, or read ("" = no such job)
	server string
	call   int64
	ret    int64
	code   int
	index  uint64 // X-Nomad-Index of a read
	err    string // why a write's outcome is unknown
}

func errText(code int, body []byte) string {
	if code == 200 {
		return ""
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

const never = int64(1) << 62

func (o op) unknown() bool { return o.ret == never }

func (o op) String() string {
	ret := "?"
	if !o.unknown() {
		ret = time.Duration(o.ret).Round(time.Millisecond).String()
	}
	at := fmt.Sprintf("[%s..%s] w%d via %s", time.Duration(o.call).Round(time.Millisecond), ret, o.worker, o.server)
	switch o.kind {
	case opRegister:
		return fmt.Sprintf("%s register %s=%s (%d %s)", at, o.key, o.value, o.code, o.err)
	case opDeregister:
		return fmt.Sprintf("%s deregister %s (%d %s)", at, o.key, o.code, o.err)
	}
	v := o.value
	if v == "" {
		v = "<absent>"
	}
	return fmt.Sprintf("%s read(%s) %s -> %s @%d", at, o.mode, o.key, v, o.index)
}

// history collects operations from concurrent workers.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []op
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(o op) {
	h.mu.Lock()
	h.ops = append(h.ops, o)
	h.mu.Unlock()
}

func (h *history) all() []op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]op(nil), h.ops...)
}

type workloadSpec struct {
	workers int
	keys    int
	// opTimeout is each request's deadline (sent with it).
	opTimeout time.Duration
}

// keyJob is the job a workload key names: it never places anything (no
// node is in its datacenter), so the servers alone are exercised.
func keyJob(key, value string) *structs.JobRegisterRequest {
	return &structs.JobRegisterRequest{Job: &structs.Job{
		ID: key, Name: key, Type: structs.JobTypeBatch, Datacenters: []string{"harness-nowhere"},
		Meta: map[string]string{"v": value},
		TaskGroups: []*structs.TaskGroup{{Name: "g", Count: 1, Tasks: []*structs.Task{{
			Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "/bin/true"},
		}}}},
	}}
}

// runWorkload runs spec.workers workers against servers until ctx ends.
// Worker i draws its choices from seed+i, so a seed replays the same
// sequence of requests (their timing and outcomes depend on the run).
func runWorkload(ctx context.Context, h *history, servers []*agent, spec workloadSpec, seed int64) {
	var wg sync.WaitGroup
	for w := 0; w < spec.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(w)))
			for seq := 0; ctx.Err() == nil; seq++ {
				s := servers[rng.Intn(len(servers))]
				key := "k" + strconv.Itoa(rng.Intn(spec.keys))
				var o op
				switch p := rng.Intn(100); {
				case p < 40:
					o = doRegister(h, s, key, fmt.Sprintf("%d.%d", w, seq), spec.opTimeout)
				case p < 52:
					o = doDeregister(h, s, key, spec.opTimeout)
				case p < 70:
					o = doRead(h, s, key, readDefault, spec.opTimeout)
				case p < 85:
					o = doRead(h, s, key, readConsistent, spec.opTimeout)
				default:
					o = doRead(h, s, key, readStale, spec.opTimeout)
				}
				o.worker = w
				if o.code >= 0 {
					h.add(o)
				}
				// Think time keeps the history small enough to check.
				if !sleepCtx(ctx, time.Duration(5+rng.Intn(20))*time.Millisecond) {
					return
				}
				if o.code == 0 || o.code >= 500 {
					// Don't spin on a server that is down or has no leader.
					select {
					case <-ctx.Done():
					case <-time.After(time.Duration(50+rng.Intn(100)) * time.Millisecond):
					}
				}
			}
		}()
	}
	wg.Wait()
}

// writeOutcome sorts a write's answer: acknowledged, certainly not
// applied (dropped from the history: it changed nothing), or unknown (it
// may have been applied at any time after its call, or never).
func writeOutcome(o *op, code int, body []byte, h *history) {
	o.code = code
	switch {
	case code == 200:
		o.ret = h.now()
	case code >= 400 && code < 500 && code != 408 && code != 429:
		// Refused by validation or lookup before reaching Raft.
		o.code = -1
	case code == 507 || (code == 504 && strings.Contains(string(body), "was not applied")):
		o.code = -1
	case code == 0 && strings.Contains(string(body), "connection refused"):
		// Nobody listened: the request never reached an agent.
		o.code = -1
	default:
		// Transport errors, timeouts, "leadership lost while
		// committing", 504 "may still be applied": unknown.
		o.ret = never
	}
}

func doRegister(h *history, s *agent, key, value string, timeout time.Duration) op {
	o := op{kind: opRegister, key: key, value: value, server: s.name(), call: h.now()}
	code, _, body := request("PUT", s.url()+"/v1/jobs", keyJob(key, value), timeout)
	writeOutcome(&o, code, body, h)
	o.err = errText(code, body)
	return o
}

func doDeregister(h *history, s *agent, key string, timeout time.Duration) op {
	o := op{kind: opDeregister, key: key, server: s.name(), call: h.now()}
	code, _, body := request("DELETE", s.url()+"/v1/job/"+key+"?purge=true", nil, timeout)
	writeOutcome(&o, code, body, h)
	o.err = errText(code, body)
	return o
}

// doRead reads a key; a read that got no answer is dropped (code -1): it
// observed nothing.
func doRead(h *history, s *agent, key string, mode readMode, timeout time.Duration) op {
	o := op{kind: opRead, mode: mode, key: key, server: s.name(), call: h.now()}
	code, hdr, body := request("GET", s.url()+"/v1/job/"+key+mode.query(), nil, timeout)
	o.ret, o.code = h.now(), code
	switch code {
	case 200:
		var job structs.Job
		if err := json.Unmarshal(body, &job); err != nil || job.ID != key {
			o.code = -1
			return o
		}
		o.value = job.Meta["v"]
		if o.value == "" {
			o.value = "<no meta>"
		}
	case 404:
	default:
		o.code = -1
		return o
	}
	o.index, _ = strconv.ParseUint(hdr.Get("X-Nomad-Index"), 10, 64)
	return o
}
