package command

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/orch-project/orch/structs"
)

const jobScaleUsage = "job scale [-detach] [-address A] [-namespace N] JOB [GROUP] COUNT"

// jobScale is `orch job scale JOB [GROUP] COUNT`: the group may be left
// out when the job has one. Like Nomad it then follows the evaluation
// unless -detach.
func (c *cli) jobScale(args []string) int {
	var m meta
	var detach bool
	fs := c.flagSet("job scale", &m)
	fs.BoolVar(&detach, "detach", false, "return after submitting")
	if !c.parse(fs, args, jobScaleUsage) {
		return 1
	}
	if fs.NArg() != 2 && fs.NArg() != 3 {
		return c.fail("This command takes two or three arguments: <job> [<group>] <count>\nUsage: orch %s", jobScaleUsage)
	}
	countArg := fs.Arg(fs.NArg() - 1)
	count, err := strconv.ParseInt(countArg, 10, 64)
	if err != nil {
		return c.fail("Error parsing count: %q is not a whole number", countArg)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	jobID, err := c.resolveJob(client, &m, fs.Arg(0))
	if err != nil {
		return c.fail("%v", err)
	}
	job, _, err := client.Jobs().Info(c.ctx, jobID, m.query())
	if err != nil {
		return c.fail("Error querying job: %v", err)
	}
	group := ""
	if fs.NArg() == 3 {
		group = fs.Arg(1)
	} else if len(job.TaskGroups) == 1 {
		group = job.TaskGroups[0].Name
	} else {
		return c.fail("Group name required: job %q has %d groups", jobID, len(job.TaskGroups))
	}
	resp, err := client.Jobs().Scale(c.ctx, jobID, &structs.ScalingRequest{
		Count: &count, Target: map[string]string{structs.ScalingTargetGroup: group},
		Message: "submitted using the orch CLI", Namespace: m.ns(),
	})
	if err != nil {
		return c.fail("Error submitting scaling request: %v", err)
	}
	if detach || resp.EvalID == "" {
		if resp.EvalID != "" {
			fmt.Fprintf(c.out, "Evaluation ID: %s\n", resp.EvalID)
		}
		return 0
	}
	return c.monitor(client, resp.EvalID)
}

const jobScalingEventsUsage = "job scaling-events [-address A] [-namespace N] JOB"

// jobScalingEvents prints a job's scaling history, newest first per group.
func (c *cli) jobScalingEvents(args []string) int {
	var m meta
	fs := c.flagSet("job scaling-events", &m)
	if !c.parse(fs, args, jobScalingEventsUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <job>\nUsage: orch %s", jobScalingEventsUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	jobID, err := c.resolveJob(client, &m, fs.Arg(0))
	if err != nil {
		return c.fail("%v", err)
	}
	st, _, err := client.Jobs().ScaleStatus(c.ctx, jobID, m.query())
	if err != nil {
		return c.fail("Error querying scaling events: %v", err)
	}
	groups := make([]string, 0, len(st.TaskGroups))
	for g, gs := range st.TaskGroups {
		if len(gs.Events) > 0 {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		fmt.Fprintln(c.out, "No events found")
		return 0
	}
	sort.Strings(groups)
	rows := [][]string{{"Task Group", "Count", "PrevCount", "Date", "Error", "Message", "Eval ID"}}
	for _, g := range groups {
		for _, e := range st.TaskGroups[g].Events {
			count, eval := "", ""
			if e.Count != nil {
				count = strconv.FormatInt(*e.Count, 10)
			}
			if e.EvalID != nil {
				eval = shortID(*e.EvalID)
			}
			rows = append(rows, []string{g, count, strconv.FormatInt(e.PreviousCount, 10), formatUnixNano(e.Time),
				strconv.FormatBool(e.Error), e.Message, eval})
		}
	}
	printTable(c.out, rows)
	return 0
}
