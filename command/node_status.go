package command

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/structs"
)

const nodeStatusUsage = "node status [-address A] [ID]"

func nodeRows(nodes []*structs.NodeListStub) [][]string {
	rows := [][]string{{"ID", "Node Pool", "DC", "Name", "Class", "Drain", "Eligibility", "Status"}}
	for _, n := range nodes {
		rows = append(rows, []string{shortID(n.ID), n.NodePool, n.Datacenter, n.Name, orNone(n.NodeClass),
			fmt.Sprint(n.Drain), n.SchedulingEligibility, n.Status})
	}
	return rows
}

func (c *cli) nodeStatus(args []string) int {
	var m meta
	fs := c.flagSet("node status", &m)
	if !c.parse(fs, args, nodeStatusUsage) {
		return 1
	}
	if fs.NArg() > 1 {
		return c.fail("This command takes at most one argument: [ID]\nUsage: orch %s", nodeStatusUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	if fs.NArg() == 0 {
		nodes, _, err := client.Nodes().List(c.ctx, "", nil)
		if err != nil {
			return c.fail("Error querying node status: %v", err)
		}
		if len(nodes) == 0 {
			fmt.Fprintln(c.out, "No nodes registered")
			return 0
		}
		printTable(c.out, nodeRows(nodes))
		return 0
	}
	id, err := c.resolveNode(client, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	node, _, err := client.Nodes().Info(c.ctx, id, nil)
	if err != nil {
		return c.fail("Error querying node info: %v", err)
	}
	allocs, _, err := client.Nodes().Allocations(c.ctx, id, nil)
	if err != nil {
		return c.fail("Error querying node allocations: %v", err)
	}
	var drivers []string
	for name, d := range node.Drivers {
		if d.Detected && d.Healthy {
			drivers = append(drivers, name)
		}
	}
	sort.Strings(drivers)
	printKV(c.out, [][2]string{
		{"ID", node.ID},
		{"Name", node.Name},
		{"Node Pool", node.NodePool},
		{"Class", orNone(node.NodeClass)},
		{"DC", node.Datacenter},
		{"Drain", drainSummary(node.DrainStrategy)},
		{"Eligibility", node.SchedulingEligibility},
		{"Status", node.Status},
		{"HTTP Address", orNone(node.HTTPAddr)},
		{"Drivers", orNone(strings.Join(drivers, ","))},
	})

	var used structs.ComparableResources
	stubs := make([]*structs.AllocListStub, 0, len(allocs))
	for _, a := range allocs {
		if !a.TerminalStatus() {
			used.Add(a.AllocatedResources.Comparable())
		}
		stubs = append(stubs, a.Stub())
	}
	total := node.Comparable()
	fmt.Fprintln(c.out, "\nAllocated Resources")
	printTable(c.out, [][]string{
		{"CPU", "Memory", "Disk"},
		{fmt.Sprintf("%d/%d MHz", used.CPU, total.CPU), humanMiB(used.MemoryMB) + "/" + humanMiB(total.MemoryMB),
			humanMiB(used.DiskMB) + "/" + humanMiB(total.DiskMB)},
	})
	fmt.Fprintln(c.out, "\nAllocations")
	if len(stubs) == 0 {
		fmt.Fprintln(c.out, "No allocations placed")
		return 0
	}
	sort.Slice(stubs, func(i, j int) bool { return stubs[i].CreateIndex > stubs[j].CreateIndex })
	printTable(c.out, allocRowsAt(stubs, nowFunc()))
	return 0
}

// drainSummary is node status's Drain line: false, or true with the
// drain's deadline.
func drainSummary(d *structs.DrainStrategy) string {
	switch has, at := d.DeadlineTime(); {
	case d == nil:
		return "false"
	case !has:
		return "true; no deadline"
	default:
		s := "true; deadline " + at.Local().Format(time.RFC3339)
		if d.IgnoreSystemJobs {
			s += ", ignoring system jobs"
		}
		return s
	}
}
