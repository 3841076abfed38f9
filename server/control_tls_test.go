package server

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/rpcmux"
	"github.com/orch-project/orch/tlsutil"
)

// TestControlChannelChecksCertificateRoles: with tls { rpc = true,
// verify_server_hostname = true } the RPC port accepts node calls only
// from client or server certificates of the region, and a call marked as
// relayed between servers only from a server certificate, although the
// same CA signed every certificate tried (real certificates, real TLS
// through rpcmux).
func TestControlChannelChecksCertificateRoles(t *testing.T) {
	pki, err := tlsutil.NewPKI(t.TempDir(), "global")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name, role, region string) *tlsutil.Config {
		p := *pki
		p.Region = region
		c, k, err := p.Issue(name, role, net.ParseIP("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := pki.Config(c, k) // the region of this cluster, global
		if err := cfg.Check(); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	srvTLS := issue("server", "server", "global")
	accept, err := srvTLS.RPCAccept()
	if err != nil {
		t.Fatal(err)
	}
	dialTLS, err := srvTLS.RPCDial()
	if err != nil {
		t.Fatal(err)
	}
	s := testServerWith(t, t.TempDir(), func(c *Config) {
		c.RPCTLS, c.RPCRequireTLS, c.RPCDialTLS = accept, true, dialTLS
		c.RPCPeerCheck = srvTLS.RPCPeerCheck()
	})

	callers := []struct {
		name  string
		cfg   *tlsutil.Config
		node  bool // may make node calls
		relay bool // may relay calls between servers
	}{
		{"server", srvTLS, true, true},
		{"client", issue("client", "client", "global"), true, false},
		{"cli", issue("cli", "cli", "global"), false, false},
		{"client of another region", issue("client-other", "client", "other"), false, false},
		{"server of another region", issue("server-other", "server", "other"), false, false},
	}
	for i, c := range callers {
		dial, err := c.cfg.RPCDial()
		if err != nil {
			t.Fatal(err)
		}
		d := &rpcmux.Dialer{TLS: dial}
		n := testNode(c.name, 1000, 1024)
		n.Name = n.Name + string(rune('a'+i))
		cl := control.NewClient(control.ClientConfig{Servers: []string{s.RaftAddr()}, Dialer: d,
			Credentials: func() control.Credentials { return control.Credentials{NodeID: n.ID, Secret: n.SecretID} }})
		_, err = register(t, cl, n)
		cl.Close()
		if c.node && err != nil {
			t.Errorf("%s certificate: node registration refused: %v", c.name, err)
		}
		if !c.node && !control.IsCode(err, http.StatusForbidden) {
			t.Errorf("%s certificate: node registration not refused with 403: %v", c.name, err)
		}
		code, body := relayCall(t, d, s.RaftAddr(), n.ID, n.SecretID)
		if c.relay && code != http.StatusOK {
			t.Errorf("%s certificate: relayed heartbeat: %d %s", c.name, code, body)
		}
		if !c.relay && (code != http.StatusForbidden || !strings.Contains(body, "server.global.nomad")) {
			t.Errorf("%s certificate: relayed heartbeat not refused: %d %s", c.name, code, body)
		}
	}
}

// relayCall sends a heartbeat marked as relayed by a server, as
// control.Server.forwardToLeader does, and returns the status and body.
func relayCall(t *testing.T, d *rpcmux.Dialer, addr, node, secret string) (int, string) {
	t.Helper()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &protos,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			c, err := d.Dial(ctx, addr, rpcmux.ProtoControl)
			if err != nil {
				return nil, err
			}
			return struct{ net.Conn }{c}, nil
		}}}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/ctl/v1/"+control.MethodNodeHeartbeat,
		bytes.NewReader([]byte(`{"NodeID":"`+node+`"}`)))
	req.Header.Set("X-Orch-Node-Id", node)
	req.Header.Set("X-Orch-Node-Secret", secret)
	req.Header.Set("X-Orch-Forwarded", "1")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
