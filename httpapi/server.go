// Package httpapi serves orch's HTTP API in Nomad's /v1 wire format. It
// depends on the server and client only through the small backend
// interfaces below, so it can be tested against a real state store without
// starting Raft.
package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
)

// Config wires a Server to its backends.
type Config struct {
	// Server is nil on client-only agents.
	Server ServerBackend
	// Client is nil on server-only agents.
	Client ClientBackend
	// ServerAddrs lists servers' HTTP addresses; client-only agents forward
	// server endpoints to one of them.
	ServerAddrs func() []string
	Logger      *slog.Logger
	// AgentSelf returns the "config" object of GET /v1/agent/self. When the
	// returned map itself has a "config" key it is taken as the whole reply.
	AgentSelf func() map[string]any
}

// Server is the HTTP handler of an agent.
type Server struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	fwd    *forwarder
	srv    ServerBackend
	client ClientBackend
}

// New builds the handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), srv: cfg.Server, client: cfg.Client}
	s.fwd = newForwarder(s.log)
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	// Jobs.
	m.HandleFunc("PUT /v1/jobs", s.write(s.jobRegister))
	m.HandleFunc("POST /v1/jobs", s.write(s.jobRegister))
	m.HandleFunc("GET /v1/jobs", s.read(s.jobList))
	m.HandleFunc("PUT /v1/job/{id}", s.write(s.jobRegister))
	m.HandleFunc("POST /v1/job/{id}", s.write(s.jobRegister))
	m.HandleFunc("GET /v1/job/{id}", s.read(s.jobInfo))
	m.HandleFunc("DELETE /v1/job/{id}", s.write(s.jobDeregister))
	m.HandleFunc("GET /v1/job/{id}/allocations", s.read(s.jobAllocations))
	m.HandleFunc("GET /v1/job/{id}/evaluations", s.read(s.jobEvaluations))
	m.HandleFunc("GET /v1/job/{id}/summary", s.read(s.jobSummary))
	m.HandleFunc("GET /v1/job/{id}/versions", s.read(s.jobVersions))
	m.HandleFunc("GET /v1/job/{id}/deployment", s.read(s.jobDeployment))
	m.HandleFunc("GET /v1/job/{id}/deployments", s.read(s.jobDeployments))
	m.HandleFunc("POST /v1/jobs/parse", s.jobsParse)
	m.HandleFunc("PUT /v1/jobs/parse", s.jobsParse)
	m.HandleFunc("POST /v1/validate/job", s.jobValidate)
	m.HandleFunc("PUT /v1/validate/job", s.jobValidate)
	// Allocations and evaluations.
	m.HandleFunc("GET /v1/allocations", s.read(s.allocList))
	m.HandleFunc("GET /v1/allocation/{id}", s.read(s.allocInfo))
	m.HandleFunc("GET /v1/evaluations", s.read(s.evalList))
	m.HandleFunc("GET /v1/evaluation/{id}", s.read(s.evalInfo))
	m.HandleFunc("GET /v1/evaluation/{id}/allocations", s.read(s.evalAllocations))
	// Nodes.
	m.HandleFunc("GET /v1/nodes", s.read(s.nodeList))
	m.HandleFunc("GET /v1/node/{id}", s.read(s.nodeInfo))
	m.HandleFunc("GET /v1/node/{id}/allocations", s.read(s.nodeAllocations))
	// Client file system.
	m.HandleFunc("GET /v1/client/fs/logs/{alloc}", s.allocLogs)
	// Status, agent, regions.
	m.HandleFunc("GET /v1/status/leader", s.read(s.statusLeader))
	m.HandleFunc("GET /v1/status/peers", s.read(s.statusPeers))
	m.HandleFunc("GET /v1/regions", s.read(s.regions))
	m.HandleFunc("GET /v1/agent/self", s.agentSelf)
	m.HandleFunc("GET /v1/agent/members", s.read(s.agentMembers))
	m.HandleFunc("GET /v1/agent/health", s.agentHealth)
	// Internal client -> server endpoints.
	m.HandleFunc("PUT /v1/internal/node/register", s.write(s.nodeRegister))
	m.HandleFunc("POST /v1/internal/node/register", s.write(s.nodeRegister))
	m.HandleFunc("GET /v1/internal/node/{id}/allocs", s.read(s.nodeClientAllocs))
	m.HandleFunc("POST /v1/internal/allocs/get", s.allocsGet)
	m.HandleFunc("PUT /v1/internal/allocs/get", s.allocsGet)
	m.HandleFunc("PUT /v1/internal/allocs/update", s.write(s.allocsUpdate))
	m.HandleFunc("POST /v1/internal/allocs/update", s.write(s.allocsUpdate))
}

// ServeHTTP recovers from handler panics so one bad request cannot take the
// agent down, and forwards server endpoints from client-only agents.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("http handler panic", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			// Headers may already be out; this is best effort.
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	if s.srv == nil && !localPath(r.URL.Path) {
		s.forwardToServer(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// localPath reports whether a client-only agent answers the path itself.
func localPath(p string) bool {
	if strings.HasPrefix(p, "/v1/client/") {
		return true
	}
	return p == "/v1/agent/self" || p == "/v1/agent/health"
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
