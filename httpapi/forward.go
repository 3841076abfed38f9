package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// targetsKey carries the candidate agents of one forwarded request to the
// failover transport.
type targetsKey struct{}

// forwarder reverse-proxies requests to another agent. With several
// candidates (client-only agents forwarding to servers) it moves on to the
// next one when a connection cannot be made, so one dead server does not
// fail a share of the requests.
type forwarder struct {
	proxy  *httputil.ReverseProxy
	scheme string
}

func newForwarder(log *slog.Logger, peerTLS *tls.Config) *forwarder {
	scheme := "http"
	if peerTLS != nil {
		scheme = "https"
	}
	base := &http.Transport{
		TLSClientConfig:       peerTLS,
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // blocking queries and log streams are long-lived
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The transport picks the host; keep the original path and query.
			// The hop count stops requests bouncing between agents.
			pr.Out.Header.Set(forwardedHeader, strconv.Itoa(hops(pr.In)+1))
			// The caller's deadline travels with the request, so the
			// next agent drops it rather than act for a caller who has
			// given up.
			if dl, ok := pr.In.Context().Deadline(); ok {
				pr.Out.Header.Del(TimeoutHeader)
				pr.Out.Header.Set(DeadlineHeader, strconv.FormatInt(dl.UnixMilli(), 10))
			}
		},
		Transport: &failoverTransport{base: base},
		// A follower that forwarded a write waits until its own replica has
		// applied it before answering, so the caller's next read, served
		// from local state, sees its write; one that forwarded a stale read
		// while restoring waits likewise, so its index never goes back.
		ModifyResponse: func(resp *http.Response) error {
			answered := resp.StatusCode/100 == 2 || (resp.StatusCode == http.StatusNotFound && resp.Request.Method == http.MethodGet)
			if wait, ok := resp.Request.Context().Value(awaitIndexKey{}).(func(context.Context, uint64)); ok && answered {
				if idx, err := strconv.ParseUint(resp.Header.Get("X-Nomad-Index"), 10, 64); err == nil {
					wait(resp.Request.Context(), idx)
				}
			}
			return nil
		},
		FlushInterval: -1, // stream log frames and blocking replies as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(r.Context().Err(), context.DeadlineExceeded) {
				// The caller's deadline (its headers) ran out while the
				// request was forwarded: it may still be waiting, and
				// answering nothing would let net/http send an empty 200
				// — an acknowledgement of a write that may be lost.
				writeError(w, errForwardUnknown)
				return
			}
			if r.Context().Err() != nil {
				return // the caller is gone
			}
			log.Warn("forwarding request failed", "path", r.URL.Path, "error", err)
			http.Error(w, fmt.Sprintf("Failed to forward request: %v", err), http.StatusBadGateway)
		},
	}
	return &forwarder{proxy: rp, scheme: scheme}
}

// errForwardUnknown answers a forwarded request whose deadline passed
// before the leader answered: a write may still be applied.
var errForwardUnknown = codedErr(http.StatusGatewayTimeout, "request deadline passed while the request was forwarded to the leader; it may still be applied")

// forward sends r to the first reachable agent of targets.
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, targets []string) {
	if err := r.Context().Err(); err != nil {
		writeError(w, errDeadlinePassed)
		return
	}
	// The agent the request goes to checks its token itself.
	if z, ok := r.Context().Value(authzKey{}).(*authz); ok {
		z.delegate()
	}
	urls := make([]*url.URL, 0, len(targets))
	for _, t := range targets {
		u, err := agentURL(t, f.scheme)
		if err != nil {
			continue
		}
		urls = append(urls, u)
	}
	if len(urls) == 0 {
		http.Error(w, "No server known to forward the request to", http.StatusInternalServerError)
		return
	}
	// Buffer the body so it can be replayed against the next target.
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			http.Error(w, fmt.Sprintf("Failed to read request body: %v", err), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		r.ContentLength = int64(len(b))
	}
	r = r.WithContext(context.WithValue(r.Context(), targetsKey{}, urls))
	// Rewrite needs a URL with scheme and host; the transport replaces it.
	r.URL.Scheme, r.URL.Host = urls[0].Scheme, urls[0].Host
	f.proxy.ServeHTTP(w, r)
}

func agentURL(addr, scheme string) (*url.URL, error) {
	if !strings.Contains(addr, "://") {
		addr = scheme + "://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid agent address %q", addr)
	}
	return u, nil
}

type failoverTransport struct {
	base http.RoundTripper
}

func (t *failoverTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	urls, _ := req.Context().Value(targetsKey{}).([]*url.URL)
	if len(urls) == 0 {
		return t.base.RoundTrip(req)
	}
	var lastErr error
	for _, u := range urls {
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host, out.Host = u.Scheme, u.Host, u.Host
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			out.Body = body
		}
		resp, err := t.base.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			return nil, err // the request may have been sent; do not repeat it
		}
	}
	return nil, lastErr
}

// awaitIndexKey carries, on a forwarded write, the function that waits for
// the local replica to reach the write's index.
type awaitIndexKey struct{}

// awaitLocalIndex waits, bounded, until the local replica has applied idx:
// a follower that forwarded a write answers only then, so the caller's
// next stale read from this server sees its write. The replica wakes the
// wait as it applies; there is no polling.
func (s *Server) awaitLocalIndex(ctx context.Context, idx uint64) {
	rc, ok := s.consistency()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = rc.WaitForIndex(ctx, idx)
}

// forwardToLeader proxies r to the leader, or answers 500 when there is none.
func (s *Server) forwardToLeader(w http.ResponseWriter, r *http.Request) {
	addr := s.srv.LeaderHTTPAddr()
	if addr == "" || hops(r) >= maxForwardHops {
		// A request already relayed twice (client agent -> server ->
		// server) that still finds no leader here means leadership is
		// moving; relaying it further could loop.
		http.Error(w, "No cluster leader", http.StatusInternalServerError)
		return
	}
	s.fwd.forward(w, r, []string{addr})
}

// forwardToServer proxies a client-only agent's server request to a server.
func (s *Server) forwardToServer(w http.ResponseWriter, r *http.Request) {
	var addrs []string
	if s.cfg.ServerAddrs != nil {
		addrs = append(addrs, s.cfg.ServerAddrs()...)
	}
	if len(addrs) == 0 {
		http.Error(w, "No known servers", http.StatusInternalServerError)
		return
	}
	// Always the same server first (the list is in a stable order), moving
	// on only when it cannot be reached: a read that follows a write then
	// lands on the replica that has applied the write.
	s.fwd.forward(w, r, addrs)
}

// maxForwardHops bounds relaying: a client-only agent may relay to a
// follower, which may relay once more to the leader.
const maxForwardHops = 2

// writeFunc performs one write on the leader.
type writeFunc func(w http.ResponseWriter, r *http.Request) (out any, index uint64, err error)

// write wraps a write handler: followers proxy the request to the leader.
func (s *Server) write(fn writeFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.srv.IsLeader() {
			r = r.WithContext(context.WithValue(r.Context(), awaitIndexKey{}, s.awaitLocalIndex))
			s.forwardToLeader(w, r)
			return
		}
		out, idx, err := fn(w, r)
		if err != nil {
			writeError(w, writeErrorFor(r, err))
			return
		}
		if idx > 0 {
			s.setMeta(w, idx)
		}
		if _, ok := out.(noContent); ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, r, http.StatusOK, out)
	}
}

// writeErrorFor is the answer to a write that failed with err. A 503
// (this server lost leadership under the write, the keyring is not ready)
// means the write was not applied; once the caller's deadline has passed
// that is the 504 "not applied" every other late write gets, so a caller
// who gave up learns the outcome the same way whichever way it failed.
func writeErrorFor(r *http.Request, err error) error {
	var sc StatusCoder
	if r.Context().Err() != nil && errors.As(err, &sc) && sc.StatusCode() == http.StatusServiceUnavailable {
		return errDeadlinePassed
	}
	return err
}

// noContent is a write's result that answers 204 with no body.
type noContent struct{}

// hops returns how many agents have forwarded r so far.
func hops(r *http.Request) int {
	n, _ := strconv.Atoi(r.Header.Get(forwardedHeader))
	return n
}
