package command

import (
	"fmt"
	"sort"
	"strings"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

// printChecks shows the allocation's service checks as its client reports
// them (Nomad's "Nomad Service Checks" section, with each check's output).
// An allocation without checks, or whose client cannot be reached, shows
// none: the rest of the status still prints.
func (c *cli) printChecks(client *api.Client, a *structs.Allocation) {
	if !hasChecks(a) {
		return
	}
	res, err := client.Allocations().Checks(c.ctx, a.ID)
	if err != nil {
		fmt.Fprintf(c.out, "\nNomad Service Checks: unavailable (%v)\n", err)
		return
	}
	if len(res) == 0 {
		return
	}
	checks := make([]*structs.CheckQueryResult, 0, len(res))
	for _, r := range res {
		checks = append(checks, r)
	}
	sort.Slice(checks, func(i, j int) bool {
		x, y := checks[i], checks[j]
		if x.Service != y.Service {
			return x.Service < y.Service
		}
		return x.Check < y.Check
	})
	fmt.Fprintln(c.out, "\nNomad Service Checks:")
	rows := [][]string{{"Service", "Task", "Name", "Mode", "Status", "Output"}}
	for _, r := range checks {
		task := r.Task
		if task == "" {
			task = "(group)"
		}
		rows = append(rows, []string{r.Service, task, r.Check, r.Mode, r.Status, firstLine(r.Output, 80)})
	}
	printTable(c.out, rows)
}

func hasChecks(a *structs.Allocation) bool {
	if a.Job == nil {
		return false
	}
	tg := a.Job.LookupTaskGroup(a.TaskGroup)
	if tg == nil {
		return false
	}
	for _, s := range tg.Services {
		if len(s.Checks) > 0 {
			return true
		}
	}
	for _, t := range tg.Tasks {
		for _, s := range t.Services {
			if len(s.Checks) > 0 {
				return true
			}
		}
	}
	return false
}

// firstLine is s's first line, cut to n characters.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > n {
		s = s[:n-3] + "..."
	}
	return s
}

const allocChecksUsage = "alloc checks [-json] [-t <template>] <allocation>"

// allocChecks is Nomad's alloc checks: the latest result of every service
// check of an allocation, as its client holds them.
func (c *cli) allocChecks(args []string) int {
	var m meta
	var o outputFlags
	fs := c.flagSet("alloc checks", &m)
	fs.BoolVar(&o.json, "json", false, "output JSON")
	fs.StringVar(&o.tmpl, "t", "", "format with a Go template")
	if !c.parse(fs, args, allocChecksUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <allocation>\nUsage: orch %s", allocChecksUsage)
	}
	client, a, err := c.lookupAlloc(&m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	res, err := client.Allocations().Checks(c.ctx, a.ID)
	if err != nil {
		return c.fail("Error querying allocation checks: %v", err)
	}
	if code, done := c.render(&o, res); done {
		return code
	}
	ids := make([]string, 0, len(res))
	for id := range res {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		x, y := res[ids[i]], res[ids[j]]
		if x.Service != y.Service {
			return x.Service < y.Service
		}
		return x.Check < y.Check
	})
	fmt.Fprintf(c.out, "Status of %d Nomad Service Checks\n", len(ids))
	for _, id := range ids {
		r := res[id]
		task := r.Task
		if task == "" {
			task = "(group)"
		}
		fmt.Fprintln(c.out)
		printKV(c.out, [][2]string{
			{"ID", id}, {"Name", r.Check}, {"Group", r.Group}, {"Task", task}, {"Service", r.Service},
			{"Status", r.Status}, {"StatusCode", fmt.Sprint(r.StatusCode)}, {"Mode", r.Mode},
			{"Timestamp", formatUnixNano(r.Timestamp * int64(1e9))}, {"Output", strings.TrimSpace(r.Output)},
		})
	}
	return 0
}
