package command

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/orch-project/orch/structs"
)

const serverMembersUsage = "server members [-address A]"

func (c *cli) serverMembers(args []string) int {
	var m meta
	fs := c.flagSet("server members", &m)
	if !c.parse(fs, args, serverMembersUsage) {
		return 1
	}
	if fs.NArg() != 0 {
		return c.fail("This command takes no arguments\nUsage: orch %s", serverMembersUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	mem, err := client.Agent().Members(c.ctx)
	if err != nil {
		return c.fail("Error querying servers: %v", err)
	}
	leader, err := client.Status().Leader(c.ctx)
	if err != nil {
		leader = "" // the table is still useful without the leader column
	}
	var servers []*structs.AgentMember
	for _, s := range mem.Members {
		if role, ok := s.Tags[structs.TagRole]; !ok || role == "server" {
			servers = append(servers, s)
		}
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].Name < servers[j].Name })
	rows := [][]string{{"Name", "Address", "Port", "Status", "Leader", "Build", "Datacenter", "Region"}}
	for _, s := range servers {
		isLeader := leader != "" && (s.Tags[structs.TagRaftAddr] == leader ||
			net.JoinHostPort(s.Addr, strconv.Itoa(int(s.Port))) == leader)
		rows = append(rows, []string{s.Name, s.Addr, fmt.Sprint(s.Port), s.Status, fmt.Sprint(isLeader),
			orNone(s.Tags[structs.TagVersion]), s.Tags[structs.TagDatacenter], s.Tags[structs.TagRegion]})
	}
	printTable(c.out, rows)
	return 0
}
