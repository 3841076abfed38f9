package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/structs"
)

// Every route declares what its caller must hold (a need) when it is
// registered; router.handle is the only way to add a route, so a route
// without a declaration does not compile, and TestACLMatrix enumerates the
// router to prove every declaration is enforced.
//
// The guard resolves the request's token once (X-Nomad-Token, or
// "Authorization: Bearer"), checks the need, and leaves the result in the
// request's context for handlers that must look further (an object's own
// namespace, a list across namespaces). Such "deferred" needs are enforced
// too: a handler whose route defers cannot answer 2xx without having
// called one of the authz check methods (see guardedWriter).

type needClass int

const (
	// classPublic: anyone, token or not (health, leader, bootstrap).
	classPublic needClass = iota
	// classToken: any valid token (anonymous included); the handler
	// decides what it may see (ACL self-service endpoints).
	classToken
	// classManagement: management tokens only.
	classManagement
	// classNamespace: a namespace capability. scope says where the
	// namespace comes from.
	classNamespace
	// classNamespaceAny: any capability in the query's namespace
	// (reading a namespace's description).
	classNamespaceAny
	classNode
	classAgent
	classOperator
	classPlugin
	classQuota
	// classHostVolume: a host_volume capability on a volume the handler
	// names.
	classHostVolume
	// classVariable: a variables capability on the path in the route's
	// {path...} wildcard, in the query's namespace.
	classVariable
)

type nsScope int

const (
	// scopeQuery: the namespace is the ?namespace= parameter ("default"
	// when absent). "*" lists across namespaces: the handler must then
	// filter with authz.NamespaceFilter.
	scopeQuery nsScope = iota
	// scopeObject: the namespace is the object's own (a job in a body, an
	// allocation looked up by ID); the handler checks it with
	// authz.AllowNamespace once it knows it.
	scopeObject
)

// need is one route's authorization requirement.
type need struct {
	class needClass
	cap   string // capability or level ("read", "write", "list")
	scope nsScope
	// workload also admits a workload identity of the namespace (the
	// implicit workload policy: its namespace's services).
	workload bool
}

// Declarations for routes. Capabilities and levels are the acl package's.
func public() need             { return need{class: classPublic} }
func tokenHolder() need        { return need{class: classToken} }
func management() need         { return need{class: classManagement} }
func nsQuery(cap string) need  { return need{class: classNamespace, cap: cap, scope: scopeQuery} }
func nsObject(cap string) need { return need{class: classNamespace, cap: cap, scope: scopeObject} }

// nsQueryOrWorkload is nsQuery(cap) that also admits the workload
// identities of the namespace (service discovery by tasks).
func nsQueryOrWorkload(cap string) need {
	return need{class: classNamespace, cap: cap, scope: scopeQuery, workload: true}
}
func namespaceAny() need           { return need{class: classNamespaceAny} }
func nodeLevel(level string) need  { return need{class: classNode, cap: level} }
func agentLevel(level string) need { return need{class: classAgent, cap: level} }
func operatorLevel(l string) need  { return need{class: classOperator, cap: l} }
func pluginLevel(l string) need    { return need{class: classPlugin, cap: l} }
func quotaLevel(l string) need     { return need{class: classQuota, cap: l} }
func hostVolumeCap(cap string) need {
	return need{class: classHostVolume, cap: cap, scope: scopeObject}
}
func variableOp(op string) need { return need{class: classVariable, cap: op} }

// deferred reports whether the handler finishes the check.
func (n need) deferred(r *http.Request) bool {
	switch n.class {
	case classToken, classHostVolume:
		return true
	case classNamespace:
		return n.scope == scopeObject || r.URL.Query().Get("namespace") == "*"
	}
	return false
}

// String describes the need for docs and test failures.
func (n need) String() string {
	switch n.class {
	case classPublic:
		return "public"
	case classToken:
		return "any token (handler decides)"
	case classManagement:
		return "management"
	case classNamespace:
		if n.scope == scopeObject {
			return "namespace:" + n.cap + " (object's namespace)"
		}
		return "namespace:" + n.cap
	case classNamespaceAny:
		return "namespace:any"
	case classNode:
		return "node:" + n.cap
	case classAgent:
		return "agent:" + n.cap
	case classOperator:
		return "operator:" + n.cap
	case classPlugin:
		return "plugin:" + n.cap
	case classQuota:
		return "quota:" + n.cap
	case classHostVolume:
		return "host_volume:" + n.cap
	case classVariable:
		return "variables:" + n.cap
	}
	return "unknown"
}

// authz is a request's resolved identity.
type authz struct {
	token   *structs.ACLToken
	acl     *acl.ACL
	enabled bool
	// checked is set once a deferred check ran (or the request was handed
	// to an agent that checks it itself).
	checked atomic.Bool
}

type authzKey struct{}

// authzOf returns the request's identity. Every route goes through the
// guard, so it is always set; a nil here is a programming error, which
// fails closed.
func authzOf(r *http.Request) *authz {
	if z, ok := r.Context().Value(authzKey{}).(*authz); ok {
		return z
	}
	return &authz{acl: acl.DenyAll, enabled: true}
}

func permissionDenied() error {
	return codedErr(http.StatusForbidden, "%s", acl.ErrPermissionDenied.Error())
}

// AllowNamespace checks cap in namespace ns (the object's namespace).
func (z *authz) AllowNamespace(ns, cap string) error {
	z.checked.Store(true)
	if z.acl.AllowNamespaceOperation(normNS(ns), cap) {
		return nil
	}
	return permissionDenied()
}

// NamespaceFilter returns the test a list handler applies to each object's
// namespace.
func (z *authz) NamespaceFilter(cap string) func(ns string) bool {
	z.checked.Store(true)
	a := z.acl
	return func(ns string) bool { return a.AllowNamespaceOperation(normNS(ns), cap) }
}

// AllowHostVolume checks cap on a host volume.
func (z *authz) AllowHostVolume(name, cap string) error {
	z.checked.Store(true)
	if z.acl.AllowHostVolumeOperation(name, cap) {
		return nil
	}
	return permissionDenied()
}

// Decide records a handler's own decision for a tokenHolder route.
func (z *authz) Decide(allowed bool) error {
	z.checked.Store(true)
	if allowed {
		return nil
	}
	return permissionDenied()
}

// ACL returns the caller's compiled ACL for handlers that need more than
// the helpers above; using it counts as checking.
func (z *authz) ACL() *acl.ACL {
	z.checked.Store(true)
	return z.acl
}

// Token returns the caller's token (the anonymous token without one).
func (z *authz) Token() *structs.ACLToken { return z.token }

// delegate marks the request as handed to another agent that checks it.
func (z *authz) delegate() { z.checked.Store(true) }

func normNS(ns string) string {
	if ns == "" {
		return structs.DefaultNamespace
	}
	return ns
}

// secretOf returns the token a request carries.
func secretOf(r *http.Request) string {
	if t := r.Header.Get("X-Nomad-Token"); t != "" {
		return strings.TrimSpace(t)
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// TokenResolver resolves a request's secret; nil errors only.
type TokenResolver interface {
	Resolve(ctx context.Context, secret string) (*structs.ACLToken, *acl.ACL, error)
}

// authenticate resolves the request's token. With ACLs disabled everyone
// is management, as in Nomad.
func (s *Server) authenticate(r *http.Request) (*authz, error) {
	if !s.cfg.ACLEnabled {
		return &authz{token: nil, acl: acl.ManagementACL}, nil
	}
	if s.cfg.Resolver == nil {
		return nil, codedErr(http.StatusInternalServerError, "ACLs are enabled but this agent cannot resolve tokens")
	}
	tok, a, err := s.cfg.Resolver.Resolve(r.Context(), secretOf(r))
	if err != nil {
		switch {
		case errors.Is(err, acl.ErrTokenNotFound), errors.Is(err, acl.ErrTokenExpired),
			errors.Is(err, acl.ErrTokenInvalid), errors.Is(err, acl.ErrPermissionDenied):
			return nil, codedErr(http.StatusForbidden, "%s", rootErr(err))
		}
		return nil, err
	}
	return &authz{token: tok, acl: a, enabled: true}, nil
}

func rootErr(err error) string {
	for _, e := range []error{acl.ErrTokenNotFound, acl.ErrTokenExpired, acl.ErrTokenInvalid, acl.ErrPermissionDenied} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return err.Error()
}

// allows runs the route-level part of a need.
func (n need) allows(z *authz, r *http.Request) bool {
	a := z.acl
	switch n.class {
	case classPublic, classToken:
		return true
	case classManagement:
		return a.IsManagement()
	case classNamespace:
		ns := r.URL.Query().Get("namespace")
		if n.scope == scopeObject || ns == "*" {
			// The handler checks each object; refuse early a caller who
			// holds the capability nowhere.
			return a.AllowNamespaceOperationSomewhere(n.cap)
		}
		return a.AllowNamespaceOperation(normNS(ns), n.cap) || (n.workload && a.AllowWorkloadNamespace(ns))
	case classNamespaceAny:
		return a.AllowNamespace(namespaceOf(r))
	case classNode:
		return levelOK(n.cap, a.AllowNodeRead, a.AllowNodeWrite, nil)
	case classAgent:
		return levelOK(n.cap, a.AllowAgentRead, a.AllowAgentWrite, nil)
	case classOperator:
		return levelOK(n.cap, a.AllowOperatorRead, a.AllowOperatorWrite, nil)
	case classQuota:
		return levelOK(n.cap, a.AllowQuotaRead, a.AllowQuotaWrite, nil)
	case classPlugin:
		return levelOK(n.cap, a.AllowPluginRead, a.AllowPluginWrite, a.AllowPluginList)
	case classHostVolume:
		return true // the handler names the volume
	case classVariable:
		return a.AllowVariableOperation(namespaceOf(r), r.PathValue("path"), n.cap)
	}
	return false
}

func levelOK(level string, read, write, list func() bool) bool {
	switch level {
	case acl.PolicyRead:
		return read()
	case acl.PolicyWrite:
		return write()
	case acl.PolicyList:
		return list != nil && list()
	}
	return false
}

// guard wraps a handler with its need.
func (s *Server) guard(n need, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if n.class == classPublic {
			h(w, r)
			return
		}
		z, err := s.authenticate(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if !n.allows(z, r) {
			writeError(w, permissionDenied())
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), authzKey{}, z))
		if !n.deferred(r) {
			z.checked.Store(true)
			h(w, r)
			return
		}
		gw := &guardedWriter{ResponseWriter: w, z: z, s: s, r: r}
		h(gw, r)
	}
}

// guardedWriter refuses a 2xx answer from a handler whose route deferred
// its authorization check and that never ran it: a missing check fails
// closed instead of leaking.
type guardedWriter struct {
	http.ResponseWriter
	z       *authz
	s       *Server
	r       *http.Request
	started bool
	blocked bool
}

func (g *guardedWriter) WriteHeader(code int) {
	if g.started {
		return
	}
	g.started = true
	if code/100 == 2 && !g.z.checked.Load() {
		g.blocked = true
		g.s.log.Error("handler answered without its authorization check; refused",
			"method", g.r.Method, "path", g.r.URL.Path)
		http.Error(g.ResponseWriter, "internal error: authorization was not checked", http.StatusInternalServerError)
		return
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *guardedWriter) Write(b []byte) (int, error) {
	if !g.started {
		g.WriteHeader(http.StatusOK)
	}
	if g.blocked {
		return len(b), nil
	}
	return g.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (g *guardedWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// route is one registered endpoint and its declaration.
type route struct {
	Pattern string
	Need    need
}

// router is the only way to register a route: handle takes the route's
// need, so every endpoint states what it requires.
type router struct {
	s      *Server
	mux    *http.ServeMux
	routes []route
}

// handle registers h for pattern ("METHOD /path") behind its need.
func (rt *router) handle(pattern string, n need, h http.HandlerFunc) {
	rt.routes = append(rt.routes, route{Pattern: pattern, Need: n})
	rt.mux.HandleFunc(pattern, rt.s.guard(n, h))
}

// routeTable lists every registered endpoint with its need.
func (s *Server) routeTable() []route { return append([]route(nil), s.router.routes...) }

// listFilter returns the namespace test of a list endpoint: across
// namespaces ("*") each object is checked, otherwise the guard already
// checked the one namespace asked for.
func listFilter(r *http.Request, cap string) func(ns string) bool {
	if r.URL.Query().Get("namespace") == "*" {
		return authzOf(r).NamespaceFilter(cap)
	}
	return func(string) bool { return true }
}
