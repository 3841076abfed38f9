// Package api is orch's Go client for the HTTP API. It speaks Nomad's v1
// wire format and returns the types of package structs, so there is one type
// per concept on both sides of the wire.
package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultAddress is used when neither Config.Address nor ORCH_ADDR is set.
const DefaultAddress = "http://127.0.0.1:4646"

// Config configures a Client.
type Config struct {
	// Address is the agent's base URL; empty reads ORCH_ADDR, then NOMAD_ADDR.
	Address string
	// HTTPClient defaults to one with no overall timeout, since blocking
	// queries and log streams are long-lived.
	HTTPClient *http.Client
	// Token is the ACL token sent with every request (X-Nomad-Token).
	Token string
	// TLS, when set, is used for https addresses; an address without a
	// scheme then means https.
	TLS *tls.Config
}

// Client talks to one agent.
type Client struct {
	addr  string
	hc    *http.Client
	token string
	tls   *tls.Config
}

// NewClient returns a client for cfg.
func NewClient(cfg Config) (*Client, error) {
	addr := cfg.Address
	if addr == "" {
		addr = os.Getenv("ORCH_ADDR")
	}
	if addr == "" {
		addr = os.Getenv("NOMAD_ADDR")
	}
	if addr == "" {
		addr = DefaultAddress
	}
	if !strings.Contains(addr, "://") {
		if cfg.TLS != nil {
			addr = "https://" + addr
		} else {
			addr = "http://" + addr
		}
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid agent address %q", addr)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
			TLSClientConfig:     cfg.TLS,
		}}
	}
	return &Client{addr: strings.TrimRight(addr, "/"), hc: hc, token: cfg.Token, tls: cfg.TLS}, nil
}

// Address returns the agent's base URL.
func (c *Client) Address() string { return c.addr }

// QueryOptions are the read-side query parameters.
type QueryOptions struct {
	Namespace string
	Prefix    string
	// WaitIndex makes the query block until the result's index exceeds it.
	WaitIndex uint64
	// WaitTime bounds a blocking query; the server caps it.
	WaitTime time.Duration
	// Params are extra query parameters.
	Params map[string]string
	// AuthToken, when set, replaces the client's token for this request.
	AuthToken string
	// AllowStale lets any server answer from its replica (?stale) instead
	// of the leader; QueryMeta.LastContact says how fresh it was.
	AllowStale bool
	// RequireConsistent makes the leader confirm its leadership with a
	// quorum before answering (?consistent).
	RequireConsistent bool
}

// QueryMeta is what the server says about a read.
type QueryMeta struct {
	LastIndex   uint64
	KnownLeader bool
	// LastContact is how long before answering the server last heard from
	// the leader (0 from the leader).
	LastContact time.Duration
	RequestTime time.Duration
	// NextToken is the next page's token of a paged list, "" on the last page.
	NextToken string
}

// StatusError is a non-2xx reply: Nomad's API answers errors in plain text.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("Unexpected response code: %d (%s)", e.Code, strings.TrimSpace(e.Body))
}

// IsNotFound reports whether err is a 404 from the server.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

func (c *Client) url(path string, q *QueryOptions) string {
	v := url.Values{}
	if q != nil {
		if q.Namespace != "" {
			v.Set("namespace", q.Namespace)
		}
		if q.Prefix != "" {
			v.Set("prefix", q.Prefix)
		}
		if q.WaitIndex > 0 {
			v.Set("index", strconv.FormatUint(q.WaitIndex, 10))
		}
		if q.WaitTime > 0 {
			v.Set("wait", q.WaitTime.String())
		}
		if q.AllowStale {
			v.Set("stale", "")
		}
		if q.RequireConsistent {
			v.Set("consistent", "")
		}
		for k, val := range q.Params {
			v.Set(k, val)
		}
	}
	u := c.addr + path
	if enc := v.Encode(); enc != "" {
		if strings.Contains(path, "?") {
			u += "&" + enc
		} else {
			u += "?" + enc
		}
	}
	return u
}

// Query performs a GET and decodes the JSON reply into out.
func (c *Client) Query(ctx context.Context, path string, q *QueryOptions, out any) (*QueryMeta, error) {
	start := time.Now()
	resp, err := c.Raw(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	qm := &QueryMeta{RequestTime: time.Since(start)}
	qm.LastIndex, _ = strconv.ParseUint(resp.Header.Get("X-Nomad-Index"), 10, 64)
	qm.KnownLeader = resp.Header.Get("X-Nomad-KnownLeader") == "true"
	qm.NextToken = resp.Header.Get("X-Nomad-NextToken")
	if ms, err := strconv.ParseInt(resp.Header.Get("X-Nomad-LastContact"), 10, 64); err == nil {
		qm.LastContact = time.Duration(ms) * time.Millisecond
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return nil, fmt.Errorf("decoding reply of GET %s: %w", path, err)
		}
	}
	return qm, nil
}

// Write performs a PUT, POST or DELETE with in as JSON body (nil for none)
// and decodes the reply into out (nil to discard).
func (c *Client) Write(ctx context.Context, method, path string, q *QueryOptions, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request body: %w", err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.Raw(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("decoding reply of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Raw sends a request and returns the response when its status is 2xx; the
// caller closes the body. Other statuses become a *StatusError.
func (c *Client) Raw(ctx context.Context, method, path string, q *QueryOptions, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	token := c.token
	if q != nil && q.AuthToken != "" {
		token = q.AuthToken
	}
	if token != "" {
		req.Header.Set("X-Nomad-Token", token)
	}
	// The agents forward the deadline, so a write is dropped rather than
	// committed after this caller has given up.
	if dl, ok := ctx.Deadline(); ok {
		req.Header.Set("X-Orch-Timeout-Ms", strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, &StatusError{Code: resp.StatusCode, Body: string(b)}
	}
	return resp, nil
}
