// Package control is the client↔server control channel: node registration,
// heartbeats, the allocation watch, allocation fetches and status updates,
// and the calls later features add (service registrations, check results,
// variable reads for templates).
//
// It runs on the servers' RPC port (4647), multiplexed with Raft by the
// protocol byte rpcmux.ProtoControl, never on the public HTTP API. The wire
// protocol is HTTP/2 without TLS framing of its own (h2c, prior knowledge;
// TLS, when on, wraps the whole connection in rpcmux): every call is one
// POST /ctl/v1/<Method> stream with a JSON body and a JSON reply. HTTP/2
// was chosen because the standard library speaks it, it multiplexes all of
// a client's calls over one connection (a long allocation watch never holds
// up a heartbeat), cancels a single call when its caller gives up (the
// server sees its context end), and detects a dead or blackholed peer with
// PING frames, so no call sits on a dead TCP connection. JSON keeps the
// bodies the same as the public API's.
//
// Every call carries the node's identity: its node ID and the secret the
// client generated and persisted before it first registered (Nomad's
// SecretID). The server checks the secret against the one stored with the
// node on every call, and handlers check that a node touches only its own
// node record and allocations.
//
// Calls that write (Route.Leader) run on the leader; another server
// forwards them with the caller's deadline. Reads run on the server the
// client talks to, from its replica, but only while that replica is fresh:
// a server that has not heard from a leader within the caller's maximum
// staleness answers 503, and the client moves to another server.
package control

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Methods of the control channel.
const (
	// MethodNodeRegister registers a node or refreshes its client-owned
	// fields. Auth: AuthRegister.
	MethodNodeRegister = "Node.Register"
	// MethodNodeHeartbeat renews the node's heartbeat TTL.
	MethodNodeHeartbeat = "Node.Heartbeat"
	// MethodNodeContact is a client's probe of every server when its
	// heartbeats fail: the leader takes it as a heartbeat, any other
	// server answers how long no leader has reached it. Never forwarded.
	MethodNodeContact = "Node.Contact"
	// MethodNodeWatchAllocs is the blocking query over the node's
	// allocations (their AllocModifyIndex).
	MethodNodeWatchAllocs = "Node.WatchAllocs"
	// MethodAllocsGet fetches full allocations of the calling node.
	MethodAllocsGet = "Alloc.GetAllocs"
	// MethodAllocsUpdate carries client-side allocation status updates.
	MethodAllocsUpdate = "Alloc.UpdateAllocs"
)

// Header names of a call.
const (
	headerNodeID  = "X-Orch-Node-Id"
	headerSecret  = "X-Orch-Node-Secret"
	headerTimeout = "X-Orch-Timeout"
	// headerMaxStale is the caller's bound on the staleness of the
	// replica that serves a read.
	headerMaxStale = "X-Orch-Max-Stale"
	// headerForwarded marks a call a server relayed to the leader; it is
	// never relayed again.
	headerForwarded = "X-Orch-Forwarded"
	// headerLastContact and headerKnownLeader describe the replica that
	// answered, as Nomad's X-Nomad-LastContact and X-Nomad-KnownLeader.
	headerLastContact = "X-Orch-Last-Contact"
	headerKnownLeader = "X-Orch-Known-Leader"
)

// pathPrefix is the path of every call; the method follows it.
const pathPrefix = "/ctl/v1/"

// DefaultMaxStale is how stale a replica may be, measured as the time since
// it last heard from the leader, before it refuses to serve reads.
const DefaultMaxStale = 5 * time.Second

// maxBodyBytes bounds a call's request body.
const maxBodyBytes = 64 << 20

// Error is a call's failure as the server reported it.
type Error struct {
	// Code is the HTTP status: 400 bad request, 401 unknown or wrong
	// credentials, 403 not the caller's object, 404 unknown node, 409
	// conflict, 503 no leader or stale replica (try another server).
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d)", e.Msg, e.Code) }

// StatusCode lets HTTP-facing code keep the status.
func (e *Error) StatusCode() int { return e.Code }

// Errorf builds an *Error with an HTTP status.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Retryable reports whether another server may answer err differently:
// transport failures, no leader, a stale replica, server faults.
func Retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Code >= 500
	}
	return err != nil
}

// IsCode reports whether err is an *Error with the given status.
func IsCode(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Common errors.
var (
	ErrUnknownNode = &Error{Code: http.StatusNotFound, Msg: "node is not registered"}
	ErrBadSecret   = &Error{Code: http.StatusUnauthorized, Msg: "node secret does not match"}
	ErrNoLeader    = &Error{Code: http.StatusServiceUnavailable, Msg: "no cluster leader"}
)

// Credentials identify a node on every call.
type Credentials struct {
	NodeID string
	Secret string
}
