package command

import (
	"fmt"
	"sort"

	"github.com/orch-project/orch/structs"
)

const allocStatusUsage = "alloc status [-address A] ID"

func (c *cli) allocStatus(args []string) int {
	var m meta
	fs := c.flagSet("alloc status", &m)
	if !c.parse(fs, args, allocStatusUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <allocation>\nUsage: orch %s", allocStatusUsage)
	}
	client, a, err := c.lookupAlloc(&m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	now := nowFunc()
	printKV(c.out, [][2]string{
		{"ID", a.ID},
		{"Eval ID", shortID(a.EvalID)},
		{"Name", a.Name},
		{"Node ID", shortID(a.NodeID)},
		{"Node Name", a.NodeName},
		{"Job ID", a.JobID},
		{"Job Version", fmt.Sprint(a.JobVersion)},
		{"Client Status", a.ClientStatus},
		{"Client Description", orNone(a.ClientDescription)},
		{"Desired Status", a.DesiredStatus},
		{"Desired Description", orNone(a.DesiredDescription)},
		{"Created", ago(a.CreateTime, now)},
		{"Modified", ago(a.ModifyTime, now)},
	})
	c.printChecks(client, a)
	for _, name := range allocTaskNames(a) {
		c.printTaskState(a, name)
	}
	return 0
}

// allocTaskNames lists the group's tasks in job order, plus any task with a
// state the job no longer names.
func allocTaskNames(a *structs.Allocation) []string {
	var names []string
	seen := map[string]bool{}
	if a.Job != nil {
		if tg := a.Job.LookupTaskGroup(a.TaskGroup); tg != nil {
			for _, t := range tg.Tasks {
				names = append(names, t.Name)
				seen[t.Name] = true
			}
		}
	}
	for _, n := range sortedKeys(a.TaskStates) {
		if !seen[n] {
			names = append(names, n)
		}
	}
	return names
}

func (c *cli) printTaskState(a *structs.Allocation, name string) {
	ts := a.TaskStates[name]
	state := structs.TaskStatePending
	if ts != nil {
		state = ts.State
	}
	fmt.Fprintf(c.out, "\nTask %q is %q\n", name, state)
	if a.AllocatedResources != nil {
		if tr := a.AllocatedResources.Tasks[name]; tr != nil {
			fmt.Fprintln(c.out, "Task Resources:")
			var addrs []string
			for _, n := range tr.Networks {
				for _, p := range append(append([]structs.Port{}, n.ReservedPorts...), n.DynamicPorts...) {
					addrs = append(addrs, fmt.Sprintf("%s: %s:%d", p.Label, n.IP, p.Value))
				}
			}
			for _, p := range a.AllocatedResources.Shared.Ports {
				addrs = append(addrs, fmt.Sprintf("%s: %s:%d", p.Label, p.HostIP, p.Value))
			}
			addr := "<none>"
			if len(addrs) > 0 {
				sort.Strings(addrs)
				addr = addrs[0]
				for _, x := range addrs[1:] {
					addr += ", " + x
				}
			}
			printTable(c.out, [][]string{
				{"CPU", "Memory", "Disk", "Addresses"},
				{fmt.Sprintf("%d MHz", tr.Cpu.CpuShares), humanMiB(tr.Memory.MemoryMB),
					humanMiB(a.AllocatedResources.Shared.DiskMB), addr},
			})
		}
	}
	if ts == nil {
		return
	}
	fmt.Fprintln(c.out, "\nTask Events:")
	printKV(c.out, [][2]string{
		{"Started At", formatTime(ts.StartedAt)},
		{"Finished At", formatTime(ts.FinishedAt)},
		{"Total Restarts", fmt.Sprint(ts.Restarts)},
		{"Last Restart", formatTime(ts.LastRestart)},
	})
	if len(ts.Events) == 0 {
		return
	}
	fmt.Fprintln(c.out, "\nRecent Events:")
	rows := [][]string{{"Time", "Type", "Description"}}
	// Newest first, at most ten, as Nomad shows them.
	for i := len(ts.Events) - 1; i >= 0 && len(rows) <= 10; i-- {
		e := ts.Events[i]
		rows = append(rows, []string{formatUnixNano(e.Time), e.Type, eventDescription(e)})
	}
	printTable(c.out, rows)
}

func eventDescription(e *structs.TaskEvent) string {
	if e.DisplayMessage != "" {
		return e.DisplayMessage
	}
	switch {
	case e.Message != "":
		return e.Message
	case e.DriverError != "":
		return e.DriverError
	case e.Type == structs.TaskTerminated:
		return fmt.Sprintf("Exit Code: %d", e.ExitCode)
	}
	return ""
}
