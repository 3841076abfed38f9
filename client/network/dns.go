package network

import (
	"fmt"
	"net"
	"os"
	"strings"

	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/orch-project/orch/structs"
)

// writeDNS writes the allocation's resolv.conf from the group's dns block
// or, without one, from the DNS settings a CNI network returned. With
// neither the tasks keep the host's resolver configuration, as in Nomad.
func (m *Manager) writeDNS(allocID string, dns *structs.DNSConfig, r *types100.Result, att *Attachment) error {
	var servers, searches, options []string
	switch {
	case dns != nil && (len(dns.Servers) > 0 || len(dns.Searches) > 0 || len(dns.Options) > 0):
		servers, searches, options = dns.Servers, dns.Searches, dns.Options
	case r != nil && len(r.DNS.Nameservers) > 0:
		servers, searches, options = r.DNS.Nameservers, r.DNS.Search, r.DNS.Options
	default:
		return nil
	}
	content, err := ResolvConf(servers, searches, options)
	if err != nil {
		return err
	}
	path := m.ResolvConfPath(allocID)
	// The directory is the client's own (0700), not the task's.
	if err := os.WriteFile(path, content, 0o644); err != nil {
		return fmt.Errorf("writing resolv.conf: %w", err)
	}
	att.ResolvConf, att.DNS = path, servers
	return nil
}

// ResolvConf renders resolv.conf. Servers must be IP addresses; searches
// and options single words (a newline would add directives).
func ResolvConf(servers, searches, options []string) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# written by orch for the allocation's network namespace\n")
	for _, s := range servers {
		if net.ParseIP(s) == nil {
			return nil, fmt.Errorf("dns servers: %q is not an IP address", s)
		}
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	for _, list := range [][]string{searches, options} {
		for _, w := range list {
			if w == "" || strings.ContainsAny(w, " \t\r\n#;") {
				return nil, fmt.Errorf("dns: %q is not a single word", w)
			}
		}
	}
	if len(searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(searches, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return []byte(b.String()), nil
}
