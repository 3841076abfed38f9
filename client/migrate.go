package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/orch-project/orch/client/migrate"
	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/internal/safefs"
)

// MigrateTokenHeader carries the token of a snapshot request
// (control.MigrateToken of the previous node's secret and allocation).
const MigrateTokenHeader = "X-Orch-Migrate-Token"

// snapshotWait is how long a snapshot request waits for the allocation to
// become terminal before answering 503 (the caller asks again).
const snapshotWait = 20 * time.Second

// migrateSource is the client as the migrate hook sees it.
type migrateSource struct {
	c  *Client
	hc *http.Client
}

func newMigrateSource(c *Client, peerTLS *tls.Config) *migrateSource {
	tr := &http.Transport{TLSClientConfig: peerTLS, Proxy: nil, ResponseHeaderTimeout: snapshotWait + 10*time.Second}
	return &migrateSource{c: c, hc: &http.Client{Transport: tr}}
}

func (s *migrateSource) LocalAlloc(id string) (string, <-chan struct{}, bool) {
	s.c.mu.RLock()
	r, ok := s.c.runners[id]
	s.c.mu.RUnlock()
	if !ok {
		return "", nil, false
	}
	return r.Dir(), r.Done(), true
}

func (s *migrateSource) Info(ctx context.Context, allocID string) (*control.MigrateInfoResponse, error) {
	var resp control.MigrateInfoResponse
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := s.c.rpc.Call(ctx, control.MethodMigrateInfo, &control.MigrateInfoRequest{AllocID: allocID}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

func (s *migrateSource) Fetch(ctx context.Context, info *control.MigrateInfoResponse) (io.ReadCloser, error) {
	scheme := "http"
	if info.PrevNodeTLS {
		scheme = "https"
	}
	u := scheme + "://" + info.PrevNodeHTTPAddr + "/v1/client/allocation/" + url.PathEscape(info.PrevAllocID) + "/snapshot"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(MigrateTokenHeader, info.Token)
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		return nil, fmt.Errorf("%w: %s", migrate.ErrNotReady, msg)
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s", migrate.ErrGone, msg)
	}
	return nil, fmt.Errorf("node %s answered %d: %s", info.PrevNodeID, resp.StatusCode, msg)
}

// snapshotError is an AllocSnapshot refusal with its HTTP status.
type snapshotError struct {
	code int
	msg  string
}

func (e *snapshotError) Error() string   { return e.msg }
func (e *snapshotError) StatusCode() int { return e.code }

// AllocSnapshot serves GET /v1/client/allocation/<id>/snapshot: the data
// directories of an allocation this node ran, for the node that runs its
// replacement. The caller proves that with the migrate token, which only
// this node and the servers can compute. The allocation must be terminal
// (its tasks no longer write); the call waits a while for that. The
// returned function writes the archive.
func (c *Client) AllocSnapshot(ctx context.Context, allocID, token string) (func(io.Writer) error, error) {
	if !control.VerifyMigrateToken(c.secret, allocID, token) {
		return nil, &snapshotError{http.StatusForbidden, "Permission denied: invalid migrate token"}
	}
	c.mu.RLock()
	r, ok := c.runners[allocID]
	c.mu.RUnlock()
	if !ok {
		return nil, &snapshotError{http.StatusNotFound, fmt.Sprintf("Unknown allocation %q on this node", allocID)}
	}
	wait := time.NewTimer(snapshotWait)
	defer wait.Stop()
	select {
	case <-r.Done():
	case <-wait.C:
		return nil, &snapshotError{http.StatusServiceUnavailable, fmt.Sprintf("allocation %s is not terminal yet", allocID)}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	a := r.Alloc()
	var tasks []string
	if tg := a.Job.LookupTaskGroup(a.TaskGroup); tg != nil {
		for _, t := range tg.Tasks {
			tasks = append(tasks, t.Name)
		}
	}
	return func(w io.Writer) error {
		root, err := safefs.OpenRoot(r.Dir())
		if err != nil {
			return fmt.Errorf("opening alloc dir: %w", err)
		}
		defer root.Close()
		skipped, err := migrate.WriteArchive(w, root, tasks)
		if skipped > 0 {
			c.logger.Warn("files not migrated: links, special files and hard links are skipped", "alloc", allocID, "count", skipped)
		}
		return err
	}, nil
}
