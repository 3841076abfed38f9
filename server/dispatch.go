package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// DispatchJob creates a child of a parameterized job with the request's
// payload and meta (`job dispatch`). A dispatch whose idempotency token a
// child already carries answers with that child and creates nothing; the
// FSM re-checks the token, so two racing dispatches create one child.
func (s *Server) DispatchJob(ctx context.Context, ns string, req *structs.JobDispatchRequest) (*structs.JobDispatchResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	snap := s.State().Snapshot()
	parent, err := snap.JobByID(nil, ns, req.JobID)
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	if parent == nil {
		return nil, fmt.Errorf("%w: parameterized job not found", ErrNotFound)
	}
	if err := checkDispatch(parent, req); err != nil {
		// Nomad's message as it is, with its status.
		return nil, badInput(err)
	}
	if tok := req.IdempotencyToken; tok != "" {
		if c, err := snap.ChildByIdempotencyToken(ns, parent.ID, tok); err != nil {
			return nil, err
		} else if c != nil {
			return &structs.JobDispatchResponse{DispatchedJobID: c.ID, JobCreateIndex: c.CreateIndex, Index: c.CreateIndex}, nil
		}
	}
	now := s.now()
	child := deriveChild(parent, dispatchID(parent.ID, req.IdPrefixTemplate, time.Unix(0, now)), now)
	child.Dispatched = true
	child.Payload = req.Payload
	child.DispatchIdempotencyToken = req.IdempotencyToken
	if len(req.Meta) > 0 {
		meta := make(map[string]string, len(parent.Meta)+len(req.Meta))
		for k, v := range parent.Meta {
			meta[k] = v
		}
		for k, v := range req.Meta {
			meta[k] = v
		}
		child.Meta = meta
	}
	if req.Priority > 0 {
		child.Priority = req.Priority
	}
	eval := childEval(child, structs.EvalTriggerJobRegister, now)
	index, err := s.raftApplyCtx(ctx, raftfsm.JobDispatchType, &raftfsm.JobDispatch{Child: child, Eval: eval, Time: now})
	if err != nil {
		return nil, err
	}
	if req.IdempotencyToken != "" {
		// The FSM kept an earlier child with the token instead of ours.
		c, err := s.State().Snapshot().ChildByIdempotencyToken(ns, parent.ID, req.IdempotencyToken)
		if err != nil {
			return nil, err
		}
		if c != nil && c.ID != child.ID {
			return &structs.JobDispatchResponse{DispatchedJobID: c.ID, JobCreateIndex: c.CreateIndex, Index: index}, nil
		}
	}
	resp := &structs.JobDispatchResponse{DispatchedJobID: child.ID, JobCreateIndex: index, Index: index}
	if eval != nil {
		resp.EvalID, resp.EvalCreateIndex = eval.ID, index
	}
	return resp, nil
}

// checkDispatch applies the parameterized block to a dispatch request,
// with Nomad's messages.
// maxIDPrefixTemplate bounds a dispatch's id prefix template, so a child's
// ID stays a name rather than a payload.
const maxIDPrefixTemplate = 128

func checkDispatch(parent *structs.Job, req *structs.JobDispatchRequest) error {
	p := parent.ParameterizedJob
	if !parent.IsParameterized() || p == nil {
		return fmt.Errorf("Specified job %q is not a parameterized job", parent.ID)
	}
	if parent.Stop {
		return fmt.Errorf("Specified job %q is stopped", parent.ID)
	}
	if req.Priority != 0 && (req.Priority < 1 || req.Priority > 100) {
		return fmt.Errorf("priority must be between 1 and 100, got %d", req.Priority)
	}
	// The prefix becomes part of the child's job ID, which must obey the
	// rules every job ID obeys (a registered job's are checked by jobspec).
	if t := req.IdPrefixTemplate; len(t) > maxIDPrefixTemplate || strings.ContainsAny(t, " \x00") {
		return fmt.Errorf("id prefix template must be at most %d characters without spaces or null characters", maxIDPrefixTemplate)
	}
	n := len(req.Payload)
	switch {
	case n > structs.DispatchPayloadSizeLimit:
		return fmt.Errorf("Payload exceeds maximum size; %d > %d", n, structs.DispatchPayloadSizeLimit)
	case p.Payload == structs.DispatchPayloadForbidden && n > 0:
		return fmt.Errorf("Payload is not allowed")
	case p.Payload == structs.DispatchPayloadRequired && n == 0:
		return fmt.Errorf("Payload is not provided")
	}
	var unpermitted []string
	for k := range req.Meta {
		if !slices.Contains(p.MetaRequired, k) && !slices.Contains(p.MetaOptional, k) {
			unpermitted = append(unpermitted, k)
		}
	}
	if len(unpermitted) > 0 {
		sort.Strings(unpermitted)
		return fmt.Errorf("Dispatch request included unpermitted metadata keys: %v", unpermitted)
	}
	var missing []string
	for _, k := range p.MetaRequired {
		if _, ok := req.Meta[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("Dispatch did not provide required meta keys: %v", missing)
	}
	return nil
}

// dispatchID is Nomad's dispatched job ID:
// <parent>/dispatch-[<prefix>-]<unix seconds>-<8 hex>.
func dispatchID(parent, prefix string, t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	if prefix != "" {
		prefix += "-"
	}
	return fmt.Sprintf("%s%s%s%d-%s", parent, structs.DispatchLaunchSuffix, prefix, t.Unix(), hex.EncodeToString(b[:]))
}
