package command

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/orch-project/orch/structs"
)

const jobPlanUsage = "job plan [-diff=true] [-verbose] [-json] [-var k=v] [-var-file F] [-address A] FILE"

// Exit codes of `job plan`, as Nomad's: 0 nothing would be created or
// destroyed, 1 allocations would be, 255 the plan could not be made.
const (
	planNoChange = 0
	planChanges  = 1
	planError    = 255
)

func (c *cli) jobPlan(args []string) int {
	var m meta
	var diff, verbose bool
	var in jobInput
	fs := c.flagSet("job plan", &m)
	fs.BoolVar(&diff, "diff", true, "show the difference from the running job")
	fs.BoolVar(&verbose, "verbose", false, "show unchanged fields in the diff too, and full IDs")
	in.register(fs)
	if !c.parse(fs, args, jobPlanUsage) {
		return planError
	}
	if fs.NArg() != 1 {
		c.fail("This command takes one argument: <path>\nUsage: orch %s", jobPlanUsage)
		return planError
	}
	path := fs.Arg(0)
	job, _, code := c.loadJob(path, &in)
	if job == nil {
		_ = code
		return planError
	}
	if m.namespace != "" {
		job.Namespace = m.namespace
	}
	if !c.checkJob(job) {
		return planError
	}
	client, err := m.client()
	if err != nil {
		c.fail("Error initializing client: %v", err)
		return planError
	}
	resp, err := client.Jobs().Plan(c.ctx, job, diff, m.query())
	if err != nil {
		c.fail("Error during plan: %v", err)
		return planError
	}
	if diff && resp.Diff != nil {
		fmt.Fprintf(c.out, "%s\n", formatJobDiff(resp.Diff, verbose))
	}
	c.printDryRun(resp)
	fmt.Fprintf(c.out, "\nJob Modify Index: %d\n", resp.JobModifyIndex)
	fmt.Fprintf(c.out, "To submit the job with version verification run:\n\n")
	fmt.Fprintf(c.out, "orch job run -check-index %d %s\n\n", resp.JobModifyIndex, path)
	fmt.Fprintf(c.out, "When running the job with the check-index flag, the job will only be run if the\n"+
		"job modify index given matches the server-side version. If the index has\n"+
		"changed, another user has modified the job and the plan's results are\n"+
		"potentially invalid.\n")
	return planExitCode(resp)
}

// planExitCode is 1 when the plan creates or destroys allocations.
func planExitCode(resp *structs.JobPlanResponse) int {
	if resp.Annotations == nil {
		return planNoChange
	}
	for _, u := range resp.Annotations.DesiredTGUpdates {
		if u.Place+u.Stop+u.Migrate+u.DestructiveUpdate+u.Canary+u.RescheduleNow > 0 {
			return planChanges
		}
	}
	return planNoChange
}

func (c *cli) printDryRun(resp *structs.JobPlanResponse) {
	fmt.Fprintf(c.out, "Scheduler dry-run:\n")
	if len(resp.FailedTGAllocs) == 0 {
		fmt.Fprintf(c.out, "- All tasks successfully allocated.\n")
	} else {
		fmt.Fprintf(c.out, "- WARNING: Failed to place all allocations.\n")
		for _, g := range sortedKeys(resp.FailedTGAllocs) {
			m := resp.FailedTGAllocs[g]
			n := 1 + m.CoalescedFailures
			noun := "allocation"
			if n > 1 {
				noun += "s"
			}
			fmt.Fprintf(c.out, "  Task Group %q (failed to place %d %s):\n", g, n, noun)
			for _, line := range metricReasons(m) {
				fmt.Fprintf(c.out, "    * %s\n", line)
			}
		}
	}
	if !resp.NextPeriodicLaunch.IsZero() {
		fmt.Fprintf(c.out, "- If submitted now, next periodic launch would be at %s.\n", formatTime(resp.NextPeriodicLaunch))
	}
}

// Diff rendering, as Nomad prints it: "+" added, "-" deleted, "+/-"
// edited, unchanged fields (shown with -verbose) without a marker.

func diffMarker(typ string) string {
	switch typ {
	case structs.DiffTypeAdded:
		return "+"
	case structs.DiffTypeDeleted:
		return "-"
	case structs.DiffTypeEdited:
		return "+/-"
	}
	return ""
}

func formatJobDiff(d *structs.JobDiff, verbose bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s Job: %q\n", orSpace(diffMarker(d.Type)), d.ID)
	writeFieldsObjects(&b, d.Fields, d.Objects, 0, verbose)
	for _, g := range d.TaskGroups {
		if g.Type == structs.DiffTypeNone && !verbose && len(g.Updates) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s Task Group: %q%s\n", orSpace(diffMarker(g.Type)), g.Name, updatesSuffix(g.Updates))
		writeFieldsObjects(&b, g.Fields, g.Objects, 2, verbose)
		for _, t := range g.Tasks {
			if t.Type == structs.DiffTypeNone && !verbose {
				continue
			}
			ann := ""
			if len(t.Annotations) > 0 {
				ann = " (" + strings.Join(t.Annotations, ", ") + ")"
			}
			fmt.Fprintf(&b, "  %s Task: %q%s\n", orSpace(diffMarker(t.Type)), t.Name, ann)
			writeFieldsObjects(&b, t.Fields, t.Objects, 4, verbose)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func orSpace(m string) string {
	if m == "" {
		return " "
	}
	return m
}

// updatesSuffix renders a group's update counts: " (1 create, 2 ignore)".
func updatesSuffix(u map[string]uint64) string {
	if len(u) == 0 {
		return ""
	}
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", u[k], k))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func writeFieldsObjects(w io.Writer, fields []*structs.FieldDiff, objects []*structs.ObjectDiff, indent int, verbose bool) {
	pad := strings.Repeat(" ", indent)
	for _, f := range fields {
		if f.Type == structs.DiffTypeNone && !verbose {
			continue
		}
		ann := ""
		if len(f.Annotations) > 0 {
			ann = " (" + strings.Join(f.Annotations, ", ") + ")"
		}
		switch f.Type {
		case structs.DiffTypeAdded:
			fmt.Fprintf(w, "%s+ %s: %q%s\n", pad, f.Name, f.New, ann)
		case structs.DiffTypeDeleted:
			fmt.Fprintf(w, "%s- %s: %q%s\n", pad, f.Name, f.Old, ann)
		case structs.DiffTypeEdited:
			fmt.Fprintf(w, "%s+/- %s: %q => %q%s\n", pad, f.Name, f.Old, f.New, ann)
		default:
			fmt.Fprintf(w, "%s  %s: %q%s\n", pad, f.Name, f.New, ann)
		}
	}
	for _, o := range objects {
		if o.Type == structs.DiffTypeNone && !verbose {
			continue
		}
		fmt.Fprintf(w, "%s%s %s {\n", pad, orSpace(diffMarker(o.Type)), o.Name)
		writeFieldsObjects(w, o.Fields, o.Objects, indent+2, verbose)
		fmt.Fprintf(w, "%s  }\n", pad)
	}
}
