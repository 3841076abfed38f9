package command

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/orch-project/orch/agent"
)

// stringList is a repeatable or comma-separated flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

const agentUsage = `Usage: orch agent [options]

  Starts an orch agent: a server (cluster state and scheduling), a client
  (runs tasks), or both with -dev.

Options:
`

func runAgent(args []string) int {
	cfg := agent.DefaultConfig()
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var configFiles, join, servers stringList
	var region, dc, node, dataDir, bind, logLevel string
	fs.BoolVar(&cfg.Dev, "dev", false, "run a server and a client in one process, for development")
	fs.BoolVar(&cfg.Server, "server", false, "run a server")
	fs.BoolVar(&cfg.Client, "client", false, "run a client")
	fs.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", 0, "number of servers to wait for before bootstrapping")
	fs.StringVar(&dataDir, "data-dir", "", "directory for Raft data and client state")
	fs.StringVar(&bind, "bind", "", "address to bind and advertise (default: first private IP; 127.0.0.1 in -dev)")
	fs.Var(&join, "join", "gossip address of an agent to join (repeatable)")
	fs.Var(&servers, "servers", "for clients: servers' RPC addresses, host[:4647] (repeatable)")
	fs.StringVar(&dc, "dc", "", "datacenter (default dc1)")
	fs.StringVar(&region, "region", "", "region (default global)")
	fs.StringVar(&node, "node", "", "unique agent name (default: the hostname)")
	fs.Var(&configFiles, "config", "agent configuration file (HCL or JSON) or directory of them (repeatable)")
	fs.StringVar(&logLevel, "log-level", "", "log level: DEBUG, INFO, WARN, ERROR")
	var encrypt string
	fs.StringVar(&encrypt, "encrypt", "", "gossip encryption key (base64; see operator gossip keyring generate)")
	var aclEnabled bool
	fs.BoolVar(&aclEnabled, "acl-enabled", false, "enable ACLs (as acl { enabled = true })")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprint(os.Stderr, agentUsage)
			fs.SetOutput(os.Stderr)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(os.Stderr, "Error parsing agent flags: %v\n", err)
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "Error: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 1
	}
	for _, f := range configFiles {
		if err := cfg.LoadFile(f); err != nil {
			fmt.Fprintf(os.Stderr, "Error loading configuration: %v\n", err)
			return 1
		}
	}
	// Flags override configuration files.
	setIf(&cfg.DataDir, dataDir)
	setIf(&cfg.BindAddr, bind)
	setIf(&cfg.Datacenter, dc)
	setIf(&cfg.Region, region)
	setIf(&cfg.NodeName, node)
	setIf(&cfg.LogLevel, logLevel)
	setIf(&cfg.Encrypt, encrypt)
	if aclEnabled {
		cfg.ACL.Enabled = true
	}
	cfg.Join = append(cfg.Join, join...)
	cfg.Servers = append(cfg.Servers, servers...)
	if err := cfg.CheckAdvertise(); err != nil {
		fmt.Fprintf(os.Stderr, "Error loading configuration: %v\n", err)
		return 1
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "Error: invalid log level %q\n", cfg.LogLevel)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if len(cfg.Warnings) > 0 {
		logger.Warn("ignoring Nomad agent settings orch does not act on", "settings", cfg.WarningLine())
	}

	a, err := agent.New(cfg, logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error starting agent: %v\n", err)
		return 1
	}
	scheme := "http"
	if cfg.TLS.HTTP {
		scheme = "https"
	}
	fmt.Fprintf(os.Stdout, "==> orch agent started! HTTP API at %s://%s\n", scheme, a.HTTPAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	s := <-sig
	logger.Info("shutting down on signal", "signal", s.String())
	a.Shutdown()
	return 0
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}
