package httpapi

import (
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Guard is what every request passes before it is routed: checks against a
// browser being turned against an agent (DNS rebinding, cross-site writes)
// and bounds on how much and how slowly a request body may arrive.
type Guard struct {
	// Hosts are the Host names accepted besides IP literals and localhost
	// names (which no DNS answer can rebind): "name", ".domain" for the
	// domain and its subdomains, "*" for any. Empty with ACLs on: any Host
	// (a rebound page has no token); empty with ACLs off: only those.
	Hosts []string
	// Origins are the origins ("scheme://host[:port]") allowed to send
	// writes besides the API's own.
	Origins []string
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// BodyTimeout bounds reading a request body; 0 means
	// DefaultBodyTimeout. (A server-wide read timeout would also cut
	// blocking queries and log streams, which wait far longer.)
	BodyTimeout time.Duration
}

// Defaults of the guard's bounds.
const (
	DefaultMaxBodyBytes = 32 << 20
	DefaultBodyTimeout  = time.Minute
)

// browserSimpleTypes are the request content types a browser sends
// cross-site without a CORS preflight: a write carrying one is what a
// hostile web page can make a browser send.
var browserSimpleTypes = map[string]bool{
	"text/plain":                        true,
	"application/x-www-form-urlencoded": true,
	"multipart/form-data":               true,
}

// check refuses a request the guard does not let through.
func (g *Guard) check(r *http.Request, aclEnabled bool) error {
	if err := g.checkHost(r.Host, aclEnabled); err != nil {
		return err
	}
	if isWrite(r.Method) {
		if err := g.checkOrigin(r); err != nil {
			return err
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || browserSimpleTypes[strings.ToLower(mt)] {
				return codedErr(http.StatusUnsupportedMediaType,
					"Content-Type %q is not accepted on writes (a web page can make a browser send it to any site): send application/json or no Content-Type", ct)
			}
		}
	}
	return nil
}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// checkHost refuses a Host a rebound DNS name could carry.
func (g *Guard) checkHost(hostport string, aclEnabled bool) error {
	if len(g.Hosts) == 0 && aclEnabled {
		return nil
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return nil
	}
	for _, h := range g.Hosts {
		h = strings.ToLower(h)
		switch {
		case h == "*", h == host:
			return nil
		case strings.HasPrefix(h, ".") && (host == h[1:] || strings.HasSuffix(host, h)):
			return nil
		}
	}
	return codedErr(http.StatusForbidden,
		"Host %q is not allowed: address the agent by IP or localhost, list the name in the agent's http_api { allowed_hosts }, or enable ACLs", hostport)
}

// checkOrigin refuses a write sent by a page of another origin. A request
// without Origin does not come from a browser's cross-site request (a
// browser always sends Origin with one that writes).
func (g *Guard) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			return codedErr(http.StatusForbidden, "cross-site write refused")
		}
		return nil
	}
	for _, o := range g.Origins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return nil
		}
	}
	u, err := url.Parse(origin)
	if err == nil && origin != "null" && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	return codedErr(http.StatusForbidden,
		"cross-origin write from %q refused: list it in the agent's http_api { allowed_origins } to allow it", origin)
}

// limitBody bounds the request body's size and the time it may take to
// arrive; once it has been read the deadline is lifted, so a blocking
// handler is not cut off by it.
func (g *Guard) limitBody(w http.ResponseWriter, r *http.Request) {
	max := g.MaxBodyBytes
	if max <= 0 {
		max = DefaultMaxBodyBytes
	}
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	timeout := g.BodyTimeout
	if timeout <= 0 {
		timeout = DefaultBodyTimeout
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return
	}
	r.Body = &deadlineBody{ReadCloser: http.MaxBytesReader(w, r.Body, max), rc: rc}
}

// deadlineBody lifts the read deadline once the body has been read to its
// end. After any other error (the deadline passed, the body is too large)
// the deadline stays, so the server's own drain of the rest fails fast too.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
