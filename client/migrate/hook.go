// Package migrate moves a previous allocation's ephemeral disk to its
// replacement (ephemeral_disk sticky and migrate): alloc/data and each
// task's local/. On the same node the directories are renamed once the
// previous allocation is terminal; from another node (migrate = true) the
// new client fetches them as a tar stream from the previous node's HTTP
// API with a token only the servers and that node can compute
// (control.MigrateToken), and unpacks them through safefs within the
// group's disk size. A previous node that is down, or a transfer that
// fails, leaves the replacement with an empty disk and a task event
// saying so, as in Nomad ("best effort").
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/internal/safefs"
	"github.com/orch-project/orch/structs"
)

// Source is what the hook needs from its client.
type Source interface {
	// LocalAlloc returns the directory of an allocation this client still
	// holds, with a channel closed once it is terminal (its runner
	// returned); ok is false when the client does not have it.
	LocalAlloc(allocID string) (dir string, done <-chan struct{}, ok bool)
	// Info asks the servers about the previous allocation of allocID.
	Info(ctx context.Context, allocID string) (*control.MigrateInfoResponse, error)
	// Fetch opens the previous allocation's archive on its node.
	Fetch(ctx context.Context, info *control.MigrateInfoResponse) (io.ReadCloser, error)
}

// ErrNotReady is what Fetch returns while the previous allocation still
// runs on its node: try again.
var ErrNotReady = errors.New("previous allocation is not terminal yet")

// ErrGone is what Fetch returns when the previous node no longer has the
// allocation's directory (garbage collected): there is nothing to migrate.
var ErrGone = errors.New("previous allocation's directory is gone")

// Config configures the hook.
type Config struct {
	// AllocRoot is <data-dir>/alloc.
	AllocRoot string
	Source    Source
	// Wait bounds how long a replacement waits for its previous
	// allocation's data (default 10 minutes).
	Wait time.Duration
}

// hookName is Nomad's name for the hook.
const hookName = "migrate_disk"

// HookFactory builds the hook for allocations that replace another and
// whose group has a sticky or migrating ephemeral disk.
func HookFactory(cfg Config) hooks.AllocHookFactory {
	if cfg.Wait <= 0 {
		cfg.Wait = 10 * time.Minute
	}
	return func(hc *hooks.AllocHookConfig) hooks.Hook {
		a := hc.Alloc
		if a.PreviousAllocation == "" || a.Job == nil {
			return nil
		}
		tg := a.Job.LookupTaskGroup(a.TaskGroup)
		if tg == nil || tg.EphemeralDisk == nil || !(tg.EphemeralDisk.Sticky || tg.EphemeralDisk.Migrate) {
			return nil
		}
		tasks := make([]string, 0, len(tg.Tasks))
		for _, t := range tg.Tasks {
			tasks = append(tasks, t.Name)
		}
		size := int64(tg.EphemeralDisk.SizeMB) << 20
		if size <= 0 {
			size = 300 << 20
		}
		return &hook{cfg: cfg, hc: hc, tasks: tasks, migrate: tg.EphemeralDisk.Migrate, size: size}
	}
}

type hook struct {
	cfg     Config
	hc      *hooks.AllocHookConfig
	tasks   []string
	migrate bool
	size    int64

	mu     sync.Mutex
	cancel context.CancelFunc
	// stopped is set once the allocation is told to stop: a wait in
	// progress ends.
	stopped bool
}

func (*hook) Name() string { return hookName }

// Update ends a wait for the previous allocation when this one is stopped.
func (h *hook) Update(_ context.Context, req *hooks.AllocUpdateRequest) error {
	if ds := req.Alloc.DesiredStatus; ds == structs.AllocDesiredStatusStop || ds == structs.AllocDesiredStatusEvict {
		h.mu.Lock()
		h.stopped = true
		if h.cancel != nil {
			h.cancel()
		}
		h.mu.Unlock()
	}
	return nil
}

// Prerun moves the previous allocation's data in before any task starts.
// It never fails the allocation: data that cannot be had is reported as a
// task event and the tasks start on an empty disk.
func (h *hook) Prerun(ctx context.Context, req *hooks.AllocPrerunRequest, resp *hooks.AllocPrerunResponse) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Wait)
	defer cancel()
	h.mu.Lock()
	h.cancel = cancel
	if h.stopped {
		cancel()
	}
	h.mu.Unlock()
	agentStopping := func() bool {
		return ctx.Err() != nil && !h.isStopped() && !errors.Is(ctx.Err(), context.DeadlineExceeded)
	}

	err := h.run(ctx, req.Alloc)
	if agentStopping() {
		// The agent is going away: try again when it restarts.
		return ctx.Err()
	}
	if err != nil {
		h.hc.Logger.Warn("previous allocation's data not migrated", "previous_alloc", req.Alloc.PreviousAllocation, "error", err)
		h.hc.Lifecycle.Event(&structs.TaskEvent{Type: structs.TaskSetup, Message: err.Error(),
			DisplayMessage: "Previous allocation's data not migrated: " + err.Error()})
	}
	resp.Done = true
	return nil
}

func (h *hook) isStopped() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stopped
}

func (h *hook) run(ctx context.Context, a *structs.Allocation) error {
	prev := a.PreviousAllocation
	if _, done, ok := h.cfg.Source.LocalAlloc(prev); ok {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("waiting for previous allocation %s to stop: %w", prev, ctx.Err())
		}
		n, err := MoveLocal(h.cfg.AllocRoot, prev, a.ID, h.tasks)
		if err == nil {
			h.hc.Logger.Info("moved previous allocation's data", "previous_alloc", prev, "dirs", n)
		}
		return err
	}
	if !h.migrate {
		// sticky alone keeps data only on the same node.
		return nil
	}
	return h.fetchRemote(ctx, a)
}

// fetchRemote asks the servers where the previous allocation is and
// fetches its data from that node, retrying while it still runs there.
func (h *hook) fetchRemote(ctx context.Context, a *structs.Allocation) error {
	delay := 200 * time.Millisecond
	for {
		info, err := h.cfg.Source.Info(ctx, a.ID)
		if err != nil {
			if control.Retryable(err) && ctx.Err() == nil {
				if !sleep(ctx, &delay) {
					return fmt.Errorf("asking the servers about previous allocation %s: %w", a.PreviousAllocation, err)
				}
				continue
			}
			return fmt.Errorf("asking the servers about previous allocation %s: %w", a.PreviousAllocation, err)
		}
		if info.PrevNodeDown {
			return fmt.Errorf("node %s of previous allocation %s is down", info.PrevNodeID, info.PrevAllocID)
		}
		if info.PrevNodeID == a.NodeID {
			// On this node, but this client no longer holds it.
			return fmt.Errorf("previous allocation %s is no longer on this node", info.PrevAllocID)
		}
		if info.Token == "" || info.PrevNodeHTTPAddr == "" {
			return fmt.Errorf("node %s of previous allocation %s cannot be reached", info.PrevNodeID, info.PrevAllocID)
		}
		body, err := h.cfg.Source.Fetch(ctx, info)
		switch {
		case err == nil:
			n, err := h.unpack(body, a.ID)
			body.Close()
			if err != nil {
				return fmt.Errorf("migrating data of previous allocation %s from node %s: %w", info.PrevAllocID, info.PrevNodeID, err)
			}
			h.hc.Logger.Info("migrated previous allocation's data", "previous_alloc", info.PrevAllocID, "node", info.PrevNodeID, "dirs", n)
			return nil
		case errors.Is(err, ErrGone):
			return fmt.Errorf("previous allocation %s: %w", info.PrevAllocID, err)
		}
		// Not terminal yet, or the node did not answer: ask again (the
		// servers may meanwhile know the node is down).
		if !sleep(ctx, &delay) {
			return fmt.Errorf("fetching data of previous allocation %s from node %s: %w", info.PrevAllocID, info.PrevNodeID, err)
		}
	}
}

func sleep(ctx context.Context, d *time.Duration) bool {
	select {
	case <-time.After(*d):
		*d = min(*d*2, 5*time.Second)
		return true
	case <-ctx.Done():
		return false
	}
}

// staging is where a fetched archive is unpacked, inside the new
// allocation's root (no task can see it), before its directories are
// renamed into place: a failed transfer leaves nothing behind.
const staging = ".migrating"

func (h *hook) unpack(body io.Reader, allocID string) (int, error) {
	root, err := safefs.OpenRoot(h.hc.Dir.Root)
	if err != nil {
		return 0, fmt.Errorf("opening alloc dir: %w", err)
	}
	defer root.Close()
	if err := root.RemoveAll(staging); err != nil {
		return 0, err
	}
	defer func() {
		if err := root.RemoveAll(staging); err != nil {
			h.hc.Logger.Warn("removing migration staging dir", "error", err)
		}
	}()
	if err := root.Mkdir(staging, 0o700); err != nil {
		return 0, err
	}
	dst, err := root.OpenRoot(staging)
	if err != nil {
		return 0, err
	}
	defer dst.Close()
	if err := Extract(body, dst, Limits{Bytes: h.size, Files: maxFiles}); err != nil {
		return 0, err
	}
	return moveDirs(root, staging, ".", h.tasks)
}

// maxFiles bounds the entries of a migrated archive.
const maxFiles = 1 << 20
