// Package httpapi serves orch's HTTP API in Nomad's /v1 wire format. It
// depends on the server and client only through the small backend
// interfaces below, so it can be tested against a real state store without
// starting Raft.
package httpapi

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/orch-project/orch/acl"
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
	// Services and Variables serve the service catalog's and variables'
	// writes (nil where the backend does not offer them).
	Services  ServicesBackend
	Variables VariablesBackend
	// AgentSelf returns the "config" object of GET /v1/agent/self. When the
	// returned map itself has a "config" key it is taken as the whole reply.
	AgentSelf func() map[string]any
	// ACLEnabled turns on token checks (agent config acl { enabled }).
	ACLEnabled bool
	// Resolver turns request tokens into ACLs; required with ACLEnabled.
	Resolver TokenResolver
	// PeerTLS, when set, makes requests forwarded to other agents https
	// with this configuration (tls { http = true }).
	PeerTLS *tls.Config
	// Keyring is this agent's gossip keyring; KeyringPeers lists the
	// HTTP addresses of the other live agents a keyring change fans out to.
	Keyring      KeyringBackend
	KeyringPeers func() []string
	// Guard bounds what reaches the router (Host, cross-origin writes,
	// body size and time); the zero value has the defaults.
	Guard Guard
}

// Server is the HTTP handler of an agent.
type Server struct {
	cfg    Config
	log    *slog.Logger
	router *router
	fwd    *forwarder
	srv    ServerBackend
	client ClientBackend
}

// New builds the handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, srv: cfg.Server, client: cfg.Client}
	s.fwd = newForwarder(s.log, cfg.PeerTLS)
	s.router = &router{s: s, mux: http.NewServeMux()}
	s.routes()
	return s
}

// routes registers every endpoint with what its caller must hold. A new
// group of endpoints goes in its own file as a method taking the router
// (func (s *Server) fooRoutes(rt *router)) called from here; see
// docs/architecture.md "Authorization".
func (s *Server) routes() {
	rt := s.router
	s.jobRoutes(rt)
	s.allocEvalRoutes(rt)
	s.nodeRoutes(rt)
	s.clientRoutes(rt)
	s.statusAgentRoutes(rt)
	s.namespaceRoutes(rt)
	s.aclRoutes(rt)
	s.serviceRoutes(rt)
	s.variableRoutes(rt)
	s.keyringRoutes(rt)
	s.identityRoutes(rt)
	s.scalingRoutes(rt)
	s.rolloutRoutes(rt)
	s.lifecycleRoutes(rt)
	s.operatorRoutes(rt)
	s.nodeOpRoutes(rt)
	s.allocOpRoutes(rt)
}

func (s *Server) jobRoutes(rt *router) {
	submit, read := acl.NamespaceCapabilitySubmitJob, acl.NamespaceCapabilityReadJob
	// A job's namespace comes from its body: the handler checks it.
	rt.handle("PUT /v1/jobs", nsObject(submit), s.write(s.jobRegister))
	rt.handle("POST /v1/jobs", nsObject(submit), s.write(s.jobRegister))
	rt.handle("GET /v1/jobs", nsQuery(acl.NamespaceCapabilityListJobs), s.read(s.jobList))
	rt.handle("PUT /v1/job/{id}", nsObject(submit), s.write(s.jobRegister))
	rt.handle("POST /v1/job/{id}", nsObject(submit), s.write(s.jobRegister))
	rt.handle("GET /v1/job/{id}", nsQuery(read), s.read(s.jobInfo))
	rt.handle("DELETE /v1/job/{id}", nsQuery(submit), s.write(s.jobDeregister))
	rt.handle("GET /v1/job/{id}/allocations", nsQuery(read), s.read(s.jobAllocations))
	rt.handle("GET /v1/job/{id}/evaluations", nsQuery(read), s.read(s.jobEvaluations))
	rt.handle("GET /v1/job/{id}/summary", nsQuery(read), s.read(s.jobSummary))
	rt.handle("GET /v1/job/{id}/versions", nsQuery(read), s.read(s.jobVersions))
	rt.handle("GET /v1/job/{id}/deployment", nsQuery(read), s.read(s.jobDeployment))
	rt.handle("GET /v1/job/{id}/deployments", nsQuery(read), s.read(s.jobDeployments))
	rt.handle("POST /v1/jobs/parse", nsQuery(acl.NamespaceCapabilityParseJob), s.jobsParse)
	rt.handle("PUT /v1/jobs/parse", nsQuery(acl.NamespaceCapabilityParseJob), s.jobsParse)
	rt.handle("POST /v1/validate/job", nsQuery(read), s.jobValidate)
	rt.handle("PUT /v1/validate/job", nsQuery(read), s.jobValidate)
}

func (s *Server) allocEvalRoutes(rt *router) {
	read := acl.NamespaceCapabilityReadJob
	rt.handle("GET /v1/allocations", nsQuery(read), s.read(s.allocList))
	rt.handle("GET /v1/allocation/{id}", nsObject(read), s.read(s.allocInfo))
	rt.handle("GET /v1/evaluations", nsQuery(read), s.read(s.evalList))
	rt.handle("GET /v1/evaluation/{id}", nsObject(read), s.read(s.evalInfo))
	rt.handle("GET /v1/evaluation/{id}/allocations", nsObject(read), s.read(s.evalAllocations))
}

func (s *Server) nodeRoutes(rt *router) {
	rt.handle("GET /v1/nodes", nodeLevel(acl.PolicyRead), s.read(s.nodeList))
	rt.handle("GET /v1/node/{id}", nodeLevel(acl.PolicyRead), s.read(s.nodeInfo))
	// Also filtered by read-job on each allocation's namespace.
	rt.handle("GET /v1/node/{id}/allocations", nodeLevel(acl.PolicyRead), s.read(s.nodeAllocations))
}

func (s *Server) clientRoutes(rt *router) {
	rt.handle("GET /v1/client/fs/logs/{alloc}", nsObject(acl.NamespaceCapabilityReadLogs), s.allocLogs)
	s.fsRoutes(rt)
	s.checkRoutes(rt)
	s.snapshotRoutes(rt)
}

func (s *Server) statusAgentRoutes(rt *router) {
	// The agent's own view, answered locally (as Nomad's agent and status
	// endpoints) whatever the consistency mode.
	rt.handle("GET /v1/status/leader", public(), s.readLocal(s.statusLeader))
	rt.handle("GET /v1/status/peers", public(), s.readLocal(s.statusPeers))
	rt.handle("GET /v1/regions", public(), s.readLocal(s.regions))
	rt.handle("GET /v1/agent/self", agentLevel(acl.PolicyRead), s.agentSelf)
	rt.handle("GET /v1/agent/members", nodeLevel(acl.PolicyRead), s.readLocal(s.agentMembers))
	rt.handle("GET /v1/agent/health", public(), s.agentHealth)
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
	if err := s.cfg.Guard.check(r, s.cfg.ACLEnabled); err != nil {
		w.Header().Set("Connection", "close")
		writeError(w, err)
		return
	}
	s.cfg.Guard.limitBody(w, r)
	r, cancel, err := withCallerDeadline(r)
	defer cancel()
	if err != nil {
		writeError(w, err)
		return
	}
	if s.srv == nil && !localPath(r.URL.Path) {
		s.forwardToServer(w, r)
		return
	}
	s.router.mux.ServeHTTP(w, r)
}

// localPath reports whether a client-only agent answers the path itself.
func localPath(p string) bool {
	if strings.HasPrefix(p, "/v1/client/") {
		return true
	}
	return p == "/v1/agent/self" || p == "/v1/agent/health" || strings.HasPrefix(p, "/v1/agent/keyring/")
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
