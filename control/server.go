package control

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/orch-project/orch/rpcmux"
)

// AuthMode says how a route authenticates its caller.
type AuthMode uint8

const (
	// AuthNode requires a registered node's ID and matching secret.
	AuthNode AuthMode = iota
	// AuthRegister passes the claimed ID and secret to the handler, which
	// checks them against the node record it is about to write: a new
	// node stores its secret, a known one must present it.
	AuthRegister
	// AuthNodeIfKnown checks the secret of a node the local replica
	// knows (a wrong one is refused) and lets a node it does not know yet
	// through with Call.Unverified set: for answers that reveal no more
	// than the server's own state, which a restarted server behind on its
	// log must still give.
	AuthNodeIfKnown
)

// knownNodeWait bounds how long an AuthNodeIfKnown call waits for the node
// to appear in a lagging replica.
const knownNodeWait = 50 * time.Millisecond

// Route is one method of the control channel.
type Route struct {
	Method string
	Auth   AuthMode
	// Leader routes run on the leader; other servers forward them.
	// Others are reads served from the local replica while it is fresh.
	Leader bool
	// Local routes run on the server called, whatever its state.
	Local   bool
	Handler func(ctx context.Context, c *Call) (any, error)
}

// Call is one request as a handler sees it.
type Call struct {
	Method string
	// Node is the caller's node ID: authenticated for AuthNode routes,
	// claimed (to be checked by the handler) for AuthRegister.
	Node   string
	Secret string
	// MaxStale is the caller's staleness bound for reads; blocking
	// handlers re-check it (Server.Fresh) while they wait.
	MaxStale time.Duration
	// TLS is the peer's TLS state when the connection was TLS.
	TLS *tls.ConnectionState
	// Unverified is set on AuthNodeIfKnown calls whose node the local
	// replica does not know: Node is only claimed.
	Unverified bool
	body       []byte
}

// Decode unmarshals the request body into v.
func (c *Call) Decode(v any) error {
	if len(c.body) == 0 {
		return Errorf(http.StatusBadRequest, "%s: empty request body", c.Method)
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return Errorf(http.StatusBadRequest, "%s: decoding request: %v", c.Method, err)
	}
	return nil
}

// Backend is what the control server needs from the orch server.
type Backend interface {
	IsLeader() bool
	// LeaderRPCAddr is the leader's RPC address, "" when unknown.
	LeaderRPCAddr() string
	// LastContact is how long ago this server heard from the leader (0 on
	// the leader) and whether it knows one.
	LastContact() (time.Duration, bool)
	// AuthenticateNode checks a node's secret against the local replica;
	// it returns ErrUnknownNode or ErrBadSecret.
	AuthenticateNode(ctx context.Context, nodeID, secret string) error
}

// ServerConfig configures a Server.
type ServerConfig struct {
	Backend Backend
	Logger  *slog.Logger
	// Dialer reaches the leader's RPC port to forward leader calls.
	Dialer *rpcmux.Dialer
	// MaxCallTimeout caps how long one call may run. Default 10 min.
	MaxCallTimeout time.Duration
	// VerifyPeer, when set, vets the caller's TLS identity before any
	// route runs; serverOnly is set for calls another server relayed
	// (tlsutil.Config.RPCPeerCheck).
	VerifyPeer func(st *tls.ConnectionState, serverOnly bool) error
}

// Server serves the control channel on the connections rpcmux hands it.
type Server struct {
	cfg     ServerConfig
	logger  *slog.Logger
	mu      sync.RWMutex
	routes  map[string]Route
	http    *http.Server
	forward *http.Client
}

// NewServer returns a server with no routes.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &rpcmux.Dialer{}
	}
	if cfg.MaxCallTimeout <= 0 {
		cfg.MaxCallTimeout = 10 * time.Minute
	}
	s := &Server{cfg: cfg, logger: cfg.Logger.With("component", "control"), routes: map[string]Route{}}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		Protocols:         &protos,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       10 * time.Minute,
		HTTP2: &http.HTTP2Config{
			// Ping idle clients so connections of dead or cut-off
			// clients are closed instead of held for ever.
			SendPingTimeout: 15 * time.Second,
			PingTimeout:     10 * time.Second,
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if h, ok := c.(*tlsHidden); ok {
				return context.WithValue(ctx, tlsStateKey{}, &h.st)
			}
			return ctx
		},
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	s.forward = &http.Client{Transport: newTransport(cfg.Dialer)}
	return s
}

type tlsStateKey struct{}

// Handle registers a route; a method may be registered once.
func (s *Server) Handle(r Route) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.routes[r.Method]; dup {
		panic("control: route registered twice: " + r.Method)
	}
	s.routes[r.Method] = r
}

// Serve serves connections from ln (rpcmux's ProtoControl listener) until
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(hideTLS{ln})
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, rpcmux.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown closes the listeners and every connection, ending calls in
// flight (clients retry against another server).
func (s *Server) Shutdown() error {
	s.forward.CloseIdleConnections()
	return s.http.Close()
}

// Fresh reports whether this server may serve a read to a caller that
// accepts maxStale: it is the leader, or heard from one recently enough.
func (s *Server) Fresh(maxStale time.Duration) error {
	if s.cfg.Backend.IsLeader() {
		return nil
	}
	last, known := s.cfg.Backend.LastContact()
	if !known {
		return ErrNoLeader
	}
	if maxStale <= 0 {
		maxStale = DefaultMaxStale
	}
	if last > maxStale {
		return Errorf(http.StatusServiceUnavailable, "server has not heard from the leader for %s (max staleness %s)",
			last.Round(time.Millisecond), maxStale)
	}
	return nil
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logger.Error("control handler panic", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeError(w, Errorf(http.StatusInternalServerError, "internal error"))
		}
	}()
	if r.Method != http.MethodPost || len(r.URL.Path) <= len(pathPrefix) || r.URL.Path[:len(pathPrefix)] != pathPrefix {
		writeError(w, Errorf(http.StatusNotFound, "no such control call %s %s", r.Method, r.URL.Path))
		return
	}
	method := r.URL.Path[len(pathPrefix):]
	s.mu.RLock()
	route, ok := s.routes[method]
	s.mu.RUnlock()
	if !ok {
		writeError(w, Errorf(http.StatusNotFound, "unknown control method %q", method))
		return
	}
	ctx, cancel := s.callContext(r)
	defer cancel()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		writeError(w, Errorf(http.StatusBadRequest, "reading request: %v", err))
		return
	}
	if len(body) > maxBodyBytes {
		writeError(w, Errorf(http.StatusRequestEntityTooLarge, "request body over %d bytes", maxBodyBytes))
		return
	}
	call := &Call{Method: method, Node: r.Header.Get(headerNodeID), Secret: r.Header.Get(headerSecret), body: body}
	call.MaxStale, _ = time.ParseDuration(r.Header.Get(headerMaxStale))
	if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
		call.TLS = st
	}
	if s.cfg.VerifyPeer != nil {
		if err := s.cfg.VerifyPeer(call.TLS, r.Header.Get(headerForwarded) != ""); err != nil {
			s.logger.Warn("refusing a control call", "method", method, "remote", r.RemoteAddr, "error", err)
			writeError(w, Errorf(http.StatusForbidden, "%s: %v", method, err))
			return
		}
	}
	if call.Node == "" || call.Secret == "" {
		writeError(w, Errorf(http.StatusUnauthorized, "%s: node ID and secret are required", method))
		return
	}
	if route.Leader && !s.cfg.Backend.IsLeader() {
		s.forwardToLeader(ctx, w, r, body)
		return
	}
	if !route.Leader && !route.Local {
		if err := s.Fresh(call.MaxStale); err != nil {
			writeError(w, err)
			return
		}
	}
	switch route.Auth {
	case AuthNode:
		if err := s.cfg.Backend.AuthenticateNode(ctx, call.Node, call.Secret); err != nil {
			writeError(w, err)
			return
		}
	case AuthNodeIfKnown:
		actx, cancel := context.WithTimeout(ctx, knownNodeWait)
		err := s.cfg.Backend.AuthenticateNode(actx, call.Node, call.Secret)
		cancel()
		switch {
		case errors.Is(err, ErrUnknownNode):
			call.Unverified = true
		case err != nil:
			writeError(w, err)
			return
		}
	}
	out, err := route.Handler(ctx, call)
	if err != nil {
		writeError(w, err)
		return
	}
	s.setReplicaHeaders(w)
	writeJSON(w, http.StatusOK, out)
}

// callContext bounds the call by the caller's timeout, so a server never
// works for a caller that has given up, and forwarded calls carry it on.
func (s *Server) callContext(r *http.Request) (context.Context, context.CancelFunc) {
	timeout := s.cfg.MaxCallTimeout
	if ms, err := strconv.ParseInt(r.Header.Get(headerTimeout), 10, 64); err == nil && ms > 0 {
		timeout = min(timeout, time.Duration(ms)*time.Millisecond)
	}
	return context.WithTimeout(r.Context(), timeout)
}

func (s *Server) setReplicaHeaders(w http.ResponseWriter) {
	last, known := s.cfg.Backend.LastContact()
	w.Header().Set(headerLastContact, strconv.FormatInt(last.Milliseconds(), 10))
	w.Header().Set(headerKnownLeader, strconv.FormatBool(known))
}

// forwardToLeader relays a leader call, once, with the caller's remaining
// deadline; the leader authenticates the node itself.
func (s *Server) forwardToLeader(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Header.Get(headerForwarded) != "" {
		writeError(w, ErrNoLeader)
		return
	}
	addr := s.cfg.Backend.LeaderRPCAddr()
	if addr == "" {
		writeError(w, ErrNoLeader)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+r.URL.Path, bytes.NewReader(body))
	if err != nil {
		writeError(w, Errorf(http.StatusInternalServerError, "building forwarded call: %v", err))
		return
	}
	for _, h := range []string{headerNodeID, headerSecret, headerMaxStale} {
		req.Header.Set(h, r.Header.Get(h))
	}
	req.Header.Set(headerForwarded, "1")
	if dl, ok := ctx.Deadline(); ok {
		req.Header.Set(headerTimeout, strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10))
	}
	resp, err := s.forward.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return // the caller is gone
		}
		writeError(w, Errorf(http.StatusServiceUnavailable, "forwarding %s to the leader %s: %v", r.URL.Path, addr, err))
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", headerLastContact, headerKnownLeader} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

type errorBody struct {
	Error string `json:"Error"`
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		code := http.StatusInternalServerError
		var sc interface{ StatusCode() int }
		if errors.As(err, &sc) {
			code = sc.StatusCode()
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			code = http.StatusGatewayTimeout
		}
		e = &Error{Code: code, Msg: err.Error()}
	}
	writeJSON(w, e.Code, errorBody{Error: e.Msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// hideTLS wraps accepted connections so net/http treats TLS connections
// (already terminated by rpcmux) as the plaintext HTTP/2 stream they carry;
// the TLS state stays reachable through rpcmux.PeerTLS.
type hideTLS struct{ net.Listener }

func (l hideTLS) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if st, ok := rpcmux.PeerTLS(c); ok {
		return &tlsHidden{Conn: c, st: st}, nil
	}
	return c, nil
}

// tlsHidden must not have a ConnectionState method: net/http treats a
// connection that has one as TLS and then refuses it h2c (prior-knowledge
// HTTP/2), closing every control call made over TLS. ConnContext reads the
// state from the field instead.
type tlsHidden struct {
	net.Conn
	st tls.ConnectionState
}
