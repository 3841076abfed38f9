package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/orch-project/orch/rpcmux"
)

// DefaultCallTimeout bounds a call whose context has no deadline.
const DefaultCallTimeout = 15 * time.Second

// newTransport is an HTTP/2 (h2c) transport that dials RPC ports through
// rpcmux. PINGs on a silent connection detect a dead or blackholed server
// within SendPingTimeout+PingTimeout, failing the calls on it so callers
// move to another server instead of waiting on a dead TCP connection.
func newTransport(d *rpcmux.Dialer) *http.Transport {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	return &http.Transport{
		Proxy:     nil,
		Protocols: &protos,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.Dial(ctx, addr, rpcmux.ProtoControl)
			if err != nil {
				return nil, err
			}
			// rpcmux.Dial returns a *tls.Conn when TLS is on; it already
			// carries the h2c stream, so hide it from net/http.
			return struct{ net.Conn }{c}, nil
		},
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: 4 * time.Second,
			PingTimeout:     4 * time.Second,
		},
		IdleConnTimeout:     5 * time.Minute,
		MaxIdleConnsPerHost: 2,
	}
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// Servers are the servers' RPC addresses (host:port).
	Servers []string
	// Credentials returns the node's identity for each call.
	Credentials func() Credentials
	Dialer      *rpcmux.Dialer
	Logger      *slog.Logger
	// MaxStale bounds the staleness of replicas serving this client's
	// reads; default DefaultMaxStale.
	MaxStale time.Duration
}

// Client calls the servers over the control channel, failing over between
// them: a call goes to the server that answered last, then to the others.
// Only transport errors and 5xx answers (no leader, stale replica) move on;
// any other answer is the answer.
type Client struct {
	cfg    ClientConfig
	logger *slog.Logger
	hc     *http.Client
	tr     *http.Transport

	mu      sync.Mutex
	servers []string
	next    int
}

// NewClient returns a client of the given servers.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &rpcmux.Dialer{}
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	tr := newTransport(cfg.Dialer)
	c := &Client{cfg: cfg, logger: cfg.Logger.With("component", "control-client"), tr: tr, hc: &http.Client{Transport: tr}}
	c.SetServers(cfg.Servers)
	return c
}

// SetServers replaces the server list, keeping the current server first
// choice if it is still listed.
func (c *Client) SetServers(addrs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := ""
	if len(c.servers) > 0 {
		cur = c.servers[c.next%len(c.servers)]
	}
	c.servers = append(c.servers[:0:0], addrs...)
	c.next = 0
	for i, a := range c.servers {
		if a == cur {
			c.next = i
		}
	}
}

// Servers returns the server list.
func (c *Client) Servers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.servers...)
}

// Current is the server calls go to first.
func (c *Client) Current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.servers) == 0 {
		return ""
	}
	return c.servers[c.next%len(c.servers)]
}

// Rotate makes the server after addr the first choice, e.g. when addr's
// answers are stale.
func (c *Client) Rotate(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, a := range c.servers {
		if a == addr {
			c.next = (i + 1) % len(c.servers)
			return
		}
	}
}

// ErrNoServers is returned when the client knows no server.
var ErrNoServers = errors.New("no servers known")

// Call runs method on the servers in turn until one answers, decoding the
// reply into resp (which may be nil). It returns the server that answered.
func (c *Client) Call(ctx context.Context, method string, req, resp any) (string, error) {
	return c.CallAttempts(ctx, 0, method, req, resp)
}

// CallAttempts is Call with each server's attempt bounded by attempt (when
// positive), so one dead or paused server does not eat the whole deadline.
func (c *Client) CallAttempts(ctx context.Context, attempt time.Duration, method string, req, resp any) (string, error) {
	c.mu.Lock()
	servers := append([]string(nil), c.servers...)
	start := c.next
	c.mu.Unlock()
	if len(servers) == 0 {
		return "", ErrNoServers
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("%s: encoding request: %w", method, err)
	}
	var errs []error
	for i := range servers {
		idx := (start + i) % len(servers)
		addr := servers[idx]
		actx, cancel := ctx, context.CancelFunc(func() {})
		if attempt > 0 {
			actx, cancel = context.WithTimeout(ctx, attempt)
		}
		err := c.callServer(actx, addr, method, body, resp)
		cancel()
		if err == nil {
			c.mu.Lock()
			if idx < len(c.servers) && c.servers[idx] == addr {
				c.next = idx
			}
			c.mu.Unlock()
			return addr, nil
		}
		if !Retryable(err) {
			return addr, err
		}
		if ctx.Err() != nil {
			return addr, fmt.Errorf("%s: %w", method, ctx.Err())
		}
		errs = append(errs, fmt.Errorf("server %s: %w", addr, err))
	}
	return "", fmt.Errorf("%s: %w", method, errors.Join(errs...))
}

// CallServer runs method on one server.
func (c *Client) CallServer(ctx context.Context, addr, method string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: encoding request: %w", method, err)
	}
	return c.callServer(ctx, addr, method, body, resp)
}

func (c *Client) callServer(ctx context.Context, addr, method string, body []byte, resp any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
		defer cancel()
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+pathPrefix+method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if c.cfg.Credentials != nil {
		cr := c.cfg.Credentials()
		hreq.Header.Set(headerNodeID, cr.NodeID)
		hreq.Header.Set(headerSecret, cr.Secret)
	}
	hreq.Header.Set(headerMaxStale, c.cfg.MaxStale.String())
	if dl, ok := ctx.Deadline(); ok {
		hreq.Header.Set(headerTimeout, strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10))
	}
	hresp, err := c.hc.Do(hreq)
	if err != nil {
		return err
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxBodyBytes))
	if err != nil {
		return fmt.Errorf("reading reply: %w", err)
	}
	if hresp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = http.StatusText(hresp.StatusCode)
		}
		return &Error{Code: hresp.StatusCode, Msg: eb.Error}
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(data, resp); err != nil {
		return fmt.Errorf("decoding reply: %w", err)
	}
	return nil
}

// Close drops idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }
