package agent

type tlsBlock struct {
	HTTP                 *bool   `hcl:"http"`
	RPC                  *bool   `hcl:"rpc"`
	CAFile               *string `hcl:"ca_file"`
	CertFile             *string `hcl:"cert_file"`
	KeyFile              *string `hcl:"key_file"`
	VerifyServerHostname *bool   `hcl:"verify_server_hostname"`
	VerifyHTTPSClient    *bool   `hcl:"verify_https_client"`
	MinVersion           *string `hcl:"tls_min_version"`
}

// applyTLSBlock merges the tls block; the files are checked when the agent
// starts (tlsutil.Config.Check), so a typo fails startup, not the first
// connection.
func (c *Config) applyTLSBlock(b *tlsBlock) {
	if b == nil {
		return
	}
	t := &c.TLS
	for _, f := range []struct {
		dst *bool
		v   *bool
	}{{&t.HTTP, b.HTTP}, {&t.RPC, b.RPC}, {&t.VerifyServerHostname, b.VerifyServerHostname},
		{&t.VerifyHTTPSClient, b.VerifyHTTPSClient}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	setStr(&t.CAFile, b.CAFile)
	setStr(&t.CertFile, b.CertFile)
	setStr(&t.KeyFile, b.KeyFile)
	setStr(&t.MinVersion, b.MinVersion)
}
