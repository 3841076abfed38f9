package command

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/orch-project/orch/api"
)

// meta holds the flags every agent-facing command shares.
type meta struct {
	address   string
	namespace string
	token     string
	tls       api.TLSFiles
}

// flagSet returns a flag set with the shared flags; parse errors are
// reported by parse, not by the flag package's usage dump.
func (c *cli) flagSet(name string, m *meta) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if m != nil {
		fs.StringVar(&m.address, "address", "", "agent address (default $ORCH_ADDR, $NOMAD_ADDR, http://127.0.0.1:4646)")
		fs.StringVar(&m.namespace, "namespace", "", "namespace (default \"default\")")
		fs.StringVar(&m.token, "token", "", "ACL token (default $ORCH_TOKEN, then $NOMAD_TOKEN)")
		env := api.TLSFilesFromEnv()
		fs.StringVar(&m.tls.CACert, "ca-cert", env.CACert, "CA certificate verifying the agent (default $NOMAD_CACERT)")
		fs.StringVar(&m.tls.ClientCert, "client-cert", env.ClientCert, "client certificate (default $NOMAD_CLIENT_CERT)")
		fs.StringVar(&m.tls.ClientKey, "client-key", env.ClientKey, "client certificate key (default $NOMAD_CLIENT_KEY)")
		fs.StringVar(&m.tls.ServerName, "tls-server-name", env.ServerName, "server name to verify (default $NOMAD_TLS_SERVER_NAME)")
		fs.BoolVar(&m.tls.SkipVerify, "tls-skip-verify", env.SkipVerify, "do not verify the agent's certificate (default $NOMAD_SKIP_VERIFY)")
	}
	return fs
}

// parse parses args; on error it prints one line and returns false.
func (c *cli) parse(fs *flag.FlagSet, args []string, usage string) bool {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(c.err, "Usage: orch %s\n", usage)
			return false
		}
		fmt.Fprintf(c.err, "Error parsing flags: %v\nUsage: orch %s\n", err, usage)
		return false
	}
	return true
}

func (m *meta) client() (*api.Client, error) {
	tc, err := m.tls.Config()
	if err != nil {
		return nil, err
	}
	return api.NewClient(api.Config{Address: m.address, Token: m.secret(), TLS: tc})
}

// secret is the ACL token: -token, else $ORCH_TOKEN, else $NOMAD_TOKEN.
func (m *meta) secret() string {
	if m.token != "" {
		return m.token
	}
	if t := os.Getenv("ORCH_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("NOMAD_TOKEN")
}

func (m *meta) query() *api.QueryOptions {
	return &api.QueryOptions{Namespace: m.ns()}
}

func (m *meta) ns() string {
	if m.namespace == "" {
		return "default"
	}
	return m.namespace
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (f *multiFlag) String() string     { return strings.Join(*f, ",") }
func (f *multiFlag) Set(v string) error { *f = append(*f, v); return nil }

// shortID abbreviates IDs in tables, as Nomad does without -verbose.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// sortedKV turns a map into key-sorted pairs for printKV.
func sortedKV(m map[string]string) [][2]string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, [2]string{k, m[k]})
	}
	return out
}
