package services

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// Check types.
const (
	CheckHTTP   = "http"
	CheckTCP    = "tcp"
	CheckGRPC   = "grpc"
	CheckScript = "script"
)

// maxOutput bounds the output a check result keeps.
const maxOutput = 4 << 10

// probeResult is one run of a check.
type probeResult struct {
	health     string // HealthPassing, HealthWarning or HealthCritical
	output     string
	statusCode int
}

// probe runs a check once; ctx carries the check's timeout.
type probe func(ctx context.Context) probeResult

// Exec runs a command inside a task (a script check's task).
type Exec func(ctx context.Context, req *drivers.ExecRequest) (int, error)

// newProbe builds the probe of check c against addr (host:port). exec
// runs script checks; it is nil when the check's task does not run.
func newProbe(c *structs.ServiceCheck, addr string, exec func() Exec) (probe, error) {
	switch c.Type {
	case CheckHTTP:
		return httpProbe(c, addr)
	case CheckTCP:
		return func(ctx context.Context) probeResult { return tcpProbe(ctx, addr) }, nil
	case CheckGRPC:
		return grpcProbe(c, addr), nil
	case CheckScript:
		return func(ctx context.Context) probeResult { return scriptProbe(ctx, c, exec()) }, nil
	}
	return nil, fmt.Errorf("check %q: unknown type %q", c.Name, c.Type)
}

// httpProbe is Consul's HTTP check: 2xx passes, 429 warns, anything else
// (or no answer) is critical.
func httpProbe(c *structs.ServiceCheck, addr string) (probe, error) {
	scheme := "http"
	if c.Protocol == "https" {
		scheme = "https"
	}
	u := &url.URL{Scheme: scheme, Host: addr}
	if c.Path != "" {
		ref, err := url.Parse(c.Path)
		if err != nil {
			return nil, fmt.Errorf("check %q: invalid path %q: %w", c.Name, c.Path, err)
		}
		u = u.ResolveReference(ref)
	}
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: c.TLSSkipVerify, ServerName: c.TLSServerName}, // #nosec G402 -- the job asks for it
	}
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	target := u.String()
	return func(ctx context.Context) probeResult {
		req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(c.Body))
		if err != nil {
			return probeResult{health: structs.HealthCritical, output: err.Error()}
		}
		for k, vs := range c.Header {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		if host := req.Header.Get("Host"); host != "" {
			req.Host = host
		}
		resp, err := hc.Do(req)
		if err != nil {
			return probeResult{health: structs.HealthCritical, output: fmt.Sprintf("HTTP %s %s: %v", method, target, err)}
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
		out := fmt.Sprintf("HTTP %s %s: %s Output: %s", method, target, resp.Status, body)
		res := probeResult{health: structs.HealthCritical, output: out, statusCode: resp.StatusCode}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			res.health = structs.HealthPassing
		case resp.StatusCode == http.StatusTooManyRequests:
			res.health = structs.HealthWarning
		}
		return res
	}, nil
}

func tcpProbe(ctx context.Context, addr string) probeResult {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return probeResult{health: structs.HealthCritical, output: fmt.Sprintf("dial tcp %s: %v", addr, err)}
	}
	_ = conn.Close()
	return probeResult{health: structs.HealthPassing, output: fmt.Sprintf("TCP connect %s: Success", addr)}
}

// scriptProbe runs the check's command in its task: exit 0 passes, 1
// warns, anything else is critical (Consul's and Nomad's rule).
func scriptProbe(ctx context.Context, c *structs.ServiceCheck, exec Exec) probeResult {
	if exec == nil {
		return probeResult{health: structs.HealthCritical, output: "the check's task is not running"}
	}
	var out limitedBuffer
	code, err := exec(ctx, &drivers.ExecRequest{Command: append([]string{c.Command}, c.Args...), Stdout: &out, Stderr: &out})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return probeResult{health: structs.HealthCritical, output: "check timed out"}
		}
		return probeResult{health: structs.HealthCritical, output: err.Error()}
	}
	res := probeResult{output: out.String(), statusCode: code}
	switch code {
	case 0:
		res.health = structs.HealthPassing
	case 1:
		res.health = structs.HealthWarning
	default:
		res.health = structs.HealthCritical
	}
	return res
}

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct{ b bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return l.b.String() }

// grpcProbe calls the standard gRPC health protocol
// (grpc.health.v1.Health/Check) over HTTP/2: cleartext (h2c) unless
// grpc_use_tls. SERVING passes; anything else, or an error, is critical.
func grpcProbe(c *structs.ServiceCheck, addr string) probe {
	var protos http.Protocols
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, Protocols: &protos}
	scheme := "http"
	if c.GRPCUseTLS {
		scheme = "https"
		protos.SetHTTP2(true)
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: c.TLSSkipVerify, ServerName: c.TLSServerName, NextProtos: []string{"h2"}} // #nosec G402 -- the job asks for it
		tr.ForceAttemptHTTP2 = true
	} else {
		protos.SetUnencryptedHTTP2(true)
	}
	hc := &http.Client{Transport: tr}
	target := scheme + "://" + addr + "/grpc.health.v1.Health/Check"
	service := c.GRPCService
	return func(ctx context.Context) probeResult {
		status, err := grpcHealthCheck(ctx, hc, target, service)
		if err != nil {
			return probeResult{health: structs.HealthCritical, output: fmt.Sprintf("gRPC health check %s: %v", addr, err)}
		}
		out := fmt.Sprintf("gRPC health check %s service %q: %s", addr, service, status)
		if status != "SERVING" {
			return probeResult{health: structs.HealthCritical, output: out}
		}
		return probeResult{health: structs.HealthPassing, output: out}
	}
}

var grpcServingStatus = map[uint64]string{0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}

// grpcHealthCheck sends one HealthCheckRequest{service} and decodes the
// HealthCheckResponse's status. Both messages have one field, so their
// protobuf encoding is written by hand.
func grpcHealthCheck(ctx context.Context, hc *http.Client, target, service string) (string, error) {
	msg := []byte{}
	if service != "" {
		msg = append(msg, 0x0a) // field 1, length-delimited
		msg = binary.AppendUvarint(msg, uint64(len(service)))
		msg = append(msg, service...)
	}
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	frame = append(frame, msg...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(frame))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	if dl, ok := ctx.Deadline(); ok {
		req.Header.Set("Grpc-Timeout", strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10)+"m")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP status %s", resp.Status)
	}
	if st := grpcStatus(resp); st != "" && st != "0" {
		return "", fmt.Errorf("grpc-status %s: %s", st, grpcMessage(resp))
	}
	if len(body) < 5 {
		return "", errors.New("empty gRPC response")
	}
	n := binary.BigEndian.Uint32(body[1:5])
	payload := body[5:]
	if uint32(len(payload)) < n {
		return "", errors.New("truncated gRPC response")
	}
	return decodeServingStatus(payload[:n])
}

func grpcStatus(resp *http.Response) string {
	if st := resp.Trailer.Get("Grpc-Status"); st != "" {
		return st
	}
	return resp.Header.Get("Grpc-Status")
}

func grpcMessage(resp *http.Response) string {
	if m := resp.Trailer.Get("Grpc-Message"); m != "" {
		return m
	}
	return resp.Header.Get("Grpc-Message")
}

// decodeServingStatus reads field 1 (an enum) of a HealthCheckResponse.
func decodeServingStatus(b []byte) (string, error) {
	status := uint64(0)
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return "", errors.New("malformed gRPC response")
		}
		b = b[n:]
		switch key & 7 {
		case 0: // varint
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return "", errors.New("malformed gRPC response")
			}
			if key>>3 == 1 {
				status = v
			}
			b = b[n:]
		case 2: // length-delimited: skip
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return "", errors.New("malformed gRPC response")
			}
			b = b[n+int(l):]
		default:
			return "", errors.New("unexpected field in gRPC response")
		}
	}
	if s, ok := grpcServingStatus[status]; ok {
		return s, nil
	}
	return "UNKNOWN", nil
}
