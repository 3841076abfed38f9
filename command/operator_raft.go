package command

import (
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"
)

// orch operator raft list-peers|remove-peer and orch operator autopilot
// get-config|set-config|health, with Nomad's flags and output.

func (c *cli) operatorRaft(args []string) int {
	return c.subcommand("operator raft", args, map[string]func([]string) int{
		"list-peers": c.raftListPeers, "remove-peer": c.raftRemovePeer,
	})
}

func (c *cli) operatorAutopilot(args []string) int {
	return c.subcommand("operator autopilot", args, map[string]func([]string) int{
		"get-config": c.autopilotGetConfig, "set-config": c.autopilotSetConfig, "health": c.autopilotHealth,
	})
}

// subcommand runs the table's entry named by args[0].
func (c *cli) subcommand(group string, args []string, table map[string]func([]string) int) int {
	if len(args) == 0 {
		names := make([]string, 0, len(table))
		for n := range table {
			names = append(names, n)
		}
		sort.Strings(names)
		return c.usageErr("Missing %s subcommand (%s)", group, strings.Join(names, ", "))
	}
	fn, ok := table[args[0]]
	if !ok {
		return c.usageErr("Unknown command %q", group+" "+args[0])
	}
	return fn(args[1:])
}

const raftListPeersUsage = "operator raft list-peers [-stale]"

func (c *cli) raftListPeers(args []string) int {
	var m meta
	fs := c.flagSet("operator raft list-peers", &m)
	stale := fs.Bool("stale", false, "answer from any server, without a leader")
	if !c.parse(fs, args, raftListPeersUsage) {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	conf, err := client.Operator().RaftConfiguration(c.ctx, *stale)
	if err != nil {
		return c.fail("Failed to retrieve raft configuration: %v", err)
	}
	rows := [][]string{{"Node", "ID", "Address", "State", "Voter", "RaftProtocol"}}
	for _, s := range conf.Servers {
		state := "follower"
		if s.Leader {
			state = "leader"
		}
		rows = append(rows, []string{s.Node, s.ID, s.Address, state, fmt.Sprint(s.Voter), s.RaftProtocol})
	}
	printTable(c.out, rows)
	return 0
}

const raftRemovePeerUsage = "operator raft remove-peer -peer-id=ID | -peer-address=IP:port"

func (c *cli) raftRemovePeer(args []string) int {
	var m meta
	fs := c.flagSet("operator raft remove-peer", &m)
	id := fs.String("peer-id", "", "ID of the server to remove")
	addr := fs.String("peer-address", "", "Raft address (IP:port) of the server to remove")
	if !c.parse(fs, args, raftRemovePeerUsage) {
		return 1
	}
	if (*id == "") == (*addr == "") {
		return c.fail("Error removing peer: must specify either -peer-id or -peer-address\nUsage: orch %s", raftRemovePeerUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	if err := client.Operator().RaftRemovePeer(c.ctx, *id, *addr); err != nil {
		return c.fail("Error removing peer: %v", err)
	}
	if *id != "" {
		fmt.Fprintf(c.out, "Removed peer with id %q\n", *id)
	} else {
		fmt.Fprintf(c.out, "Removed peer with address %q\n", *addr)
	}
	return 0
}

func (c *cli) autopilotGetConfig(args []string) int {
	var m meta
	fs := c.flagSet("operator autopilot get-config", &m)
	if !c.parse(fs, args, "operator autopilot get-config") {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	conf, err := client.Operator().AutopilotConfiguration(c.ctx)
	if err != nil {
		return c.fail("Error querying Autopilot configuration: %v", err)
	}
	fmt.Fprintf(c.out, "CleanupDeadServers = %v\n", conf.CleanupDeadServers)
	fmt.Fprintf(c.out, "LastContactThreshold = %s\n", conf.LastContactThreshold)
	fmt.Fprintf(c.out, "MaxTrailingLogs = %d\n", conf.MaxTrailingLogs)
	fmt.Fprintf(c.out, "MinQuorum = %d\n", conf.MinQuorum)
	fmt.Fprintf(c.out, "ServerStabilizationTime = %s\n", conf.ServerStabilizationTime)
	fmt.Fprintf(c.out, "EnableRedundancyZones = %v\n", conf.EnableRedundancyZones)
	fmt.Fprintf(c.out, "DisableUpgradeMigration = %v\n", conf.DisableUpgradeMigration)
	fmt.Fprintf(c.out, "EnableCustomUpgrades = %v\n", conf.EnableCustomUpgrades)
	return 0
}

const autopilotSetUsage = "operator autopilot set-config [-cleanup-dead-servers=true|false] [-last-contact-threshold=200ms] [-max-trailing-logs=250] [-min-quorum=0] [-server-stabilization-time=10s]"

func (c *cli) autopilotSetConfig(args []string) int {
	var m meta
	fs := c.flagSet("operator autopilot set-config", &m)
	cleanup := fs.String("cleanup-dead-servers", "", "remove dead servers [true|false]")
	lastContact := fs.Duration("last-contact-threshold", 0, "longest time without leader contact for a healthy server")
	maxTrailing := fs.Uint64("max-trailing-logs", 0, "most entries a healthy server may trail the leader by")
	minQuorum := fs.Uint("min-quorum", 0, "fewest voters dead-server cleanup may leave")
	stabilization := fs.Duration("server-stabilization-time", 0, "how long a new server must be healthy before it votes")
	if !c.parse(fs, args, autopilotSetUsage) {
		return 1
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	conf, err := client.Operator().AutopilotConfiguration(c.ctx)
	if err != nil {
		return c.fail("Error querying Autopilot configuration: %v", err)
	}
	if set["cleanup-dead-servers"] {
		switch strings.ToLower(*cleanup) {
		case "true":
			conf.CleanupDeadServers = true
		case "false":
			conf.CleanupDeadServers = false
		default:
			return c.fail("Error parsing -cleanup-dead-servers: %q must be true or false", *cleanup)
		}
	}
	if set["last-contact-threshold"] {
		conf.LastContactThreshold = *lastContact
	}
	if set["max-trailing-logs"] {
		conf.MaxTrailingLogs = *maxTrailing
	}
	if set["min-quorum"] {
		conf.MinQuorum = *minQuorum
	}
	if set["server-stabilization-time"] {
		conf.ServerStabilizationTime = *stabilization
	}
	ok, err := client.Operator().SetAutopilotConfiguration(c.ctx, conf, true)
	if err != nil {
		return c.fail("Error setting Autopilot configuration: %v", err)
	}
	if !ok {
		return c.fail("Configuration could not be atomically updated, please try again")
	}
	fmt.Fprintln(c.out, "Configuration updated!")
	return 0
}

func (c *cli) autopilotHealth(args []string) int {
	var m meta
	fs := c.flagSet("operator autopilot health", &m)
	asJSON := fs.Bool("json", false, "output the health in JSON")
	if !c.parse(fs, args, "operator autopilot health [-json]") {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	h, err := client.Operator().AutopilotHealth(c.ctx)
	if err != nil {
		return c.fail("Error querying Autopilot health: %v", err)
	}
	if *asJSON {
		b, err := json.Marshal(h)
		if err != nil {
			return c.fail("Error encoding health: %v", err)
		}
		fmt.Fprintln(c.out, string(b))
		return 0
	}
	fmt.Fprintf(c.out, "Healthy: %v\n", h.Healthy)
	fmt.Fprintf(c.out, "FailureTolerance: %d\n", h.FailureTolerance)
	fmt.Fprintf(c.out, "Leader: %s\n", h.Leader)
	fmt.Fprintln(c.out, "Voters:")
	for _, v := range h.Voters {
		fmt.Fprintf(c.out, "   %s\n", v)
	}
	fmt.Fprintln(c.out, "\nServers:")
	rows := [][]string{{"ID", "Name", "Address", "SerfStatus", "Version", "Leader", "Voter", "Healthy", "LastContact", "LastTerm", "LastIndex", "StableSince"}}
	for _, s := range h.Servers {
		rows = append(rows, []string{s.ID, s.Name, s.Address, s.SerfStatus, s.Version, fmt.Sprint(s.Leader), fmt.Sprint(s.Voter),
			fmt.Sprint(s.Healthy), s.LastContact.String(), fmt.Sprint(s.LastTerm), fmt.Sprint(s.LastIndex), s.StableSince.Format(time.RFC3339)})
	}
	printTable(c.out, rows)
	return 0
}
