package httpapi

import (
	"context"
	"io"
	"net/http"
)

// SnapshotBackend is a client agent that serves its allocations' data to
// the nodes running their replacements (ephemeral_disk migrate).
type SnapshotBackend interface {
	AllocSnapshot(ctx context.Context, allocID, token string) (func(io.Writer) error, error)
}

// migrateTokenHeader is client.MigrateTokenHeader.
const migrateTokenHeader = "X-Orch-Migrate-Token"

// snapshotRoutes: GET /v1/client/allocation/<id>/snapshot streams an
// allocation's alloc/data and tasks' local/ as a tar. It takes no ACL
// token: the caller is a node, authenticated by the migrate token the
// servers gave it for this allocation (checked by the backend).
func (s *Server) snapshotRoutes(rt *router) {
	rt.handle("GET /v1/client/allocation/{alloc}/snapshot", public(), s.allocSnapshot)
}

func (s *Server) allocSnapshot(w http.ResponseWriter, r *http.Request) {
	sb, ok := s.client.(SnapshotBackend)
	if !ok || s.client == nil {
		writeError(w, codedErr(http.StatusNotFound, "This agent runs no allocations"))
		return
	}
	write, err := sb.AllocSnapshot(r.Context(), r.PathValue("alloc"), r.Header.Get(migrateTokenHeader))
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := write(w); err != nil {
		s.log.Warn("streaming allocation snapshot failed", "alloc", r.PathValue("alloc"), "error", err)
		// Cut the response short so the receiver sees a broken
		// transfer, not a shorter archive.
		panic(http.ErrAbortHandler)
	}
}
