package agent

import (
	"net"
	"sync"
	"time"
)

// HTTP server timeouts. A server-wide read or write timeout would cut
// blocking queries and log streams; request bodies are bounded per request
// by httpapi.Guard instead.
const (
	// httpReadHeaderTimeout bounds the time to send a request's headers,
	// from the connection's start or, between requests, from the first
	// byte: a connection that never sends a request is closed after it.
	httpReadHeaderTimeout = 10 * time.Second
	// httpIdleTimeout closes a keep-alive connection with no request.
	httpIdleTimeout = 30 * time.Second
)

// connLimitListener caps the connections one remote IP holds open (Nomad's
// limits { http_max_conns_per_client }); beyond the cap a plaintext
// listener answers 429 and closes, a TLS one just closes.
type connLimitListener struct {
	net.Listener
	max int
	tls bool

	mu    sync.Mutex
	perIP map[string]int
}

func newConnLimitListener(l net.Listener, max int, tls bool) net.Listener {
	if max <= 0 {
		return l
	}
	return &connLimitListener{Listener: l, max: max, tls: tls, perIP: map[string]int{}}
}

func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := c.RemoteAddr().String()
		if h, _, err := net.SplitHostPort(ip); err == nil {
			ip = h
		}
		l.mu.Lock()
		over := l.perIP[ip] >= l.max
		if !over {
			l.perIP[ip]++
		}
		l.mu.Unlock()
		if over {
			go l.refuse(c)
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *connLimitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// refuse tells a plaintext client why before closing.
func (l *connLimitListener) refuse(c net.Conn) {
	defer c.Close()
	if l.tls {
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	const body = "Your IP has too many open connections to this agent (limits { http_max_conns_per_client })\n"
	_, _ = c.Write([]byte("HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n" +
		"Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

// limitedConn gives its slot back once closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// guardHosts are the Host names the HTTP API accepts: the configured ones
// and the name this agent advertises (others address it by that name).
func guardHosts(c *Config) []string {
	hosts := append([]string(nil), c.HTTPAllowedHosts...)
	if h, _, err := net.SplitHostPort(c.AdvertiseHTTP); err == nil && net.ParseIP(h) == nil && h != "" {
		hosts = append(hosts, h)
	}
	return hosts
}
