package agent

import "fmt"

// httpAPIBlock is orch's http_api block: the names and origins the HTTP
// API accepts besides its own (see httpapi.Guard and docs/security.md).
type httpAPIBlock struct {
	AllowedHosts   []string `hcl:"allowed_hosts,optional"`
	AllowedOrigins []string `hcl:"allowed_origins,optional"`
}

// limitsBlock is the part of Nomad's limits block orch has.
type limitsBlock struct {
	HTTPMaxConnsPerClient *int `hcl:"http_max_conns_per_client"`
}

// DefaultHTTPMaxConnsPerClient is Nomad's default.
const DefaultHTTPMaxConnsPerClient = 100

func (c *Config) applyHTTPBlocks(h *httpAPIBlock, l *limitsBlock) error {
	if h != nil {
		c.HTTPAllowedHosts = append(c.HTTPAllowedHosts, h.AllowedHosts...)
		c.HTTPAllowedOrigins = append(c.HTTPAllowedOrigins, h.AllowedOrigins...)
	}
	if l != nil && l.HTTPMaxConnsPerClient != nil {
		if *l.HTTPMaxConnsPerClient < 0 {
			return fmt.Errorf("limits: http_max_conns_per_client must not be negative")
		}
		c.HTTPMaxConnsPerClient = *l.HTTPMaxConnsPerClient
	}
	return nil
}
