package agent

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/hashicorp/go-sockaddr/template"
	"github.com/hashicorp/hcl/v2"
)

// Nomad agent settings orch does not act on. A Nomad configuration file
// should start orch when it asks for nothing orch lacks, so each of these
// is accepted with a warning (collected in Config.Warnings, logged once at
// start) when its value is harmless, and refused with its position when it
// asks for behaviour orch cannot give.
//
// Adding a real agent setting is a local change: give it a field in
// fileConfig (or its own block type in a config_<topic>.go file, as
// config_tls.go and config_acl.go do), apply it in LoadFile, and test it in
// config_test.go. A Nomad setting that is harmless to ignore gets a field
// here and a line in applyNomadOnly; move it out when orch implements it.

type vaultBlock struct {
	Enabled *bool    `hcl:"enabled"`
	Rest    hcl.Body `hcl:",remain"`
}

type consulBlock struct {
	ServerAutoJoin *bool    `hcl:"server_auto_join"`
	ClientAutoJoin *bool    `hcl:"client_auto_join"`
	Rest           hcl.Body `hcl:",remain"`
}

type anyBlock struct {
	Rest hcl.Body `hcl:",remain"`
}

type advertiseBlock struct {
	HTTP *string `hcl:"http"`
	RPC  *string `hcl:"rpc"`
	Serf *string `hcl:"serf"`
}

// positions finds where the named top-level settings are in body.
func positions(body hcl.Body, attrs, blocks []string) map[string]hcl.Range {
	s := &hcl.BodySchema{}
	for _, a := range attrs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: a})
	}
	for _, b := range blocks {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: b})
	}
	c, _, _ := body.PartialContent(s)
	out := map[string]hcl.Range{}
	if c == nil {
		return out
	}
	for n, a := range c.Attributes {
		out[n] = a.NameRange
	}
	for _, b := range c.Blocks {
		out[b.Type] = b.DefRange
	}
	return out
}

func at(r hcl.Range) string { return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column) }

// applyNomadOnly judges the Nomad-only settings of one file.
func (c *Config) applyNomadOnly(body hcl.Body, fc *fileConfig) error {
	pos := positions(body, []string{"disable_update_check", "leave_on_interrupt", "leave_on_terminate"},
		[]string{"vault", "consul", "telemetry", "advertise", "server"})
	warn := func(name, why string) {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s (%s): %s", name, at(pos[strings.SplitN(name, ".", 2)[0]]), why))
	}
	refuse := func(name, why string) error {
		return fmt.Errorf("%s: %s: %s", at(pos[strings.SplitN(name, ".", 2)[0]]), name, why)
	}
	if fc.DisableUpdateCheck != nil {
		warn("disable_update_check", "orch never checks for updates")
	}
	if fc.LeaveOnInterrupt != nil || fc.LeaveOnTerminate != nil {
		name := "leave_on_interrupt"
		if fc.LeaveOnInterrupt == nil {
			name = "leave_on_terminate"
		}
		warn(name, "orch always leaves the cluster gracefully on SIGINT and SIGTERM")
	}
	if v := fc.Vault; v != nil {
		if v.Enabled != nil && *v.Enabled {
			return refuse("vault.enabled", "orch does not run a Vault integration; remove the block or set enabled = false")
		}
		warn("vault", "disabled, and orch has no Vault integration")
	}
	if cb := fc.Consul; cb != nil {
		for _, aj := range []struct {
			name string
			v    *bool
		}{{"consul.server_auto_join", cb.ServerAutoJoin}, {"consul.client_auto_join", cb.ClientAutoJoin}} {
			if aj.v != nil && *aj.v {
				return refuse(aj.name, "orch does not discover agents through Consul; use server_join { retry_join } or -join")
			}
		}
		warn("consul", "orch does not use Consul (jobs asking for it are refused)")
	}
	if fc.Telemetry != nil {
		warn("telemetry", "orch does not export metrics yet")
	}
	if s := fc.Server; s != nil && s.RaftProtocol != nil {
		if *s.RaftProtocol != 3 {
			return refuse("server.raft_protocol", fmt.Sprintf("orch speaks Raft protocol 3 only, not %d", *s.RaftProtocol))
		}
		warn("server.raft_protocol", "orch always speaks Raft protocol 3")
	}
	return c.applyAdvertise(fc.Advertise, pos["advertise"])
}

// applyAdvertise takes advertise { http } (go-sockaddr templates allowed,
// as in Nomad): the HTTP address others are told. advertise { rpc, serf }
// must be the bind address: orch's Raft and gossip advertise where they
// listen.
func (c *Config) applyAdvertise(b *advertiseBlock, rng hcl.Range) error {
	if b == nil {
		return nil
	}
	if b.HTTP != nil {
		addr, err := resolveAddr(*b.HTTP)
		if err != nil {
			return fmt.Errorf("%s: advertise.http: %w", at(rng), err)
		}
		c.AdvertiseHTTP = addr
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"rpc", b.RPC}, {"serf", b.Serf}} {
		if f.v == nil {
			continue
		}
		addr, err := resolveAddr(*f.v)
		if err != nil {
			return fmt.Errorf("%s: advertise.%s: %w", at(rng), f.name, err)
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		c.advertiseChecks = append(c.advertiseChecks, advertiseCheck{name: "advertise." + f.name, host: host, at: at(rng)})
	}
	return nil
}

// advertiseCheck is an advertise { rpc | serf } host that must equal the
// bind address, checked once every file and flag is in.
type advertiseCheck struct{ name, host, at string }

// CheckAdvertise refuses advertise { rpc, serf } addresses other than the
// bind address (after flags, which may change it).
func (c *Config) CheckAdvertise() error {
	bind, err := resolveAddr(c.BindAddr)
	if err != nil {
		return fmt.Errorf("bind_addr: %w", err)
	}
	for _, a := range c.advertiseChecks {
		if a.host != bind && bind != "0.0.0.0" && bind != "" {
			return fmt.Errorf("%s: %s %q differs from the bind address %q: orch advertises Raft and gossip at the address they listen on", a.at, a.name, a.host, bind)
		}
	}
	return nil
}

// resolveAddr evaluates a go-sockaddr template ("{{ GetPrivateIP }}"),
// as Nomad allows in bind_addr and advertise; plain addresses pass as is.
func resolveAddr(s string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	out, err := template.Parse(s)
	if err != nil {
		return "", fmt.Errorf("evaluating %q: %w", s, err)
	}
	fields := strings.Fields(out)
	if len(fields) != 1 || strings.HasPrefix(fields[0], ":") {
		return "", fmt.Errorf("%q resolves to %q, not one address", s, out)
	}
	return fields[0], nil
}

// WarningLine is the one log line naming every ignored setting.
func (c *Config) WarningLine() string {
	w := append([]string(nil), c.Warnings...)
	sort.Strings(w)
	return strings.Join(w, "; ")
}
