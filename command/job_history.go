package command

import (
	"fmt"
	"strconv"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

// job history, job revert and job eval.

const jobHistoryUsage = "job history [-p] [-full] [-version N] [-json] [-address A] <job>"

func (c *cli) jobHistory(args []string) int {
	var m meta
	var diffs, full, asJSON bool
	version := -1
	fs := c.flagSet("job history", &m)
	fs.BoolVar(&diffs, "p", false, "show the changes of each version from the one before")
	fs.BoolVar(&full, "full", false, "print each version's full job as JSON")
	fs.BoolVar(&asJSON, "json", false, "print the versions as JSON")
	fs.IntVar(&version, "version", -1, "show only this version")
	if !c.parse(fs, args, jobHistoryUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <job>\nUsage: orch %s", jobHistoryUsage)
	}
	client, id, code := c.targetJob(&m, fs.Arg(0))
	if client == nil {
		return code
	}
	resp, _, err := client.Jobs().VersionsWithDiffs(c.ctx, id, m.query())
	if err != nil {
		return c.fail("Error retrieving job versions: %v", err)
	}
	if asJSON {
		return c.printJSON(resp.Versions)
	}
	found := false
	for i, v := range resp.Versions {
		if version >= 0 && v.Version != uint64(version) {
			continue
		}
		found = true
		if i > 0 && version < 0 {
			fmt.Fprintln(c.out)
		}
		if full {
			if code := c.printJSON(v); code != 0 {
				return code
			}
			continue
		}
		kv := [][2]string{{"Version", strconv.FormatUint(v.Version, 10)}, {"Stable", strconv.FormatBool(v.Stable)},
			{"Submit Date", formatUnixNano(v.SubmitTime)}}
		var diff *structs.JobDiff
		if diffs && i < len(resp.Diffs) {
			diff = resp.Diffs[i]
			kv = append(kv, [2]string{"Diff", ""})
		}
		printKV(c.out, kv)
		if diff != nil {
			fmt.Fprintln(c.out, formatJobDiff(diff, false))
		}
	}
	if !found {
		return c.fail("No version %d of job %q", version, id)
	}
	return 0
}

const jobRevertUsage = "job revert [-detach] [-verbose] [-address A] <job> <version>"

func (c *cli) jobRevert(args []string) int {
	var m meta
	var detach, verbose bool
	fs := c.flagSet("job revert", &m)
	fs.BoolVar(&detach, "detach", false, "return after submitting")
	fs.BoolVar(&verbose, "verbose", false, "show full IDs")
	if !c.parse(fs, args, jobRevertUsage) {
		return 1
	}
	if fs.NArg() != 2 {
		return c.fail("This command takes two arguments: <job> <version>\nUsage: orch %s", jobRevertUsage)
	}
	version, err := strconv.ParseUint(fs.Arg(1), 10, 64)
	if err != nil {
		return c.fail("The job version to revert to must be an integer: %v", err)
	}
	client, id, code := c.targetJob(&m, fs.Arg(0))
	if client == nil {
		return code
	}
	resp, err := client.Jobs().Revert(c.ctx, id, version, nil, m.query())
	if err != nil {
		return c.fail("Error reverting job: %v", err)
	}
	if detach || resp.EvalID == "" {
		if resp.EvalID != "" {
			fmt.Fprintf(c.out, "Evaluation ID: %s\n", resp.EvalID)
		}
		return 0
	}
	return c.monitorWithDeployment(client, resp.EvalID, verbose)
}

const jobEvalUsage = "job eval [-force-reschedule] [-detach] [-verbose] [-address A] <job>"

func (c *cli) jobEval(args []string) int {
	var m meta
	var force, detach, verbose bool
	fs := c.flagSet("job eval", &m)
	fs.BoolVar(&force, "force-reschedule", false, "replace failed allocations now, whatever their reschedule policy")
	fs.BoolVar(&detach, "detach", false, "return after submitting")
	fs.BoolVar(&verbose, "verbose", false, "show full IDs")
	if !c.parse(fs, args, jobEvalUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <job>\nUsage: orch %s", jobEvalUsage)
	}
	client, id, code := c.targetJob(&m, fs.Arg(0))
	if client == nil {
		return code
	}
	resp, err := client.Jobs().Evaluate(c.ctx, id, structs.EvalOptions{ForceReschedule: force}, m.query())
	if err != nil {
		return c.fail("Error evaluating job: %v", err)
	}
	if detach {
		fmt.Fprintf(c.out, "Created eval ID: %q\n", idOf(resp.EvalID, verbose))
		return 0
	}
	return c.monitor(client, resp.EvalID)
}

const jobPromoteUsage = "job promote [-group G]... [-detach] [-verbose] [-address A] <job>"

// jobPromote promotes the canaries of a job's latest deployment.
func (c *cli) jobPromote(args []string) int {
	var m meta
	var groups multiFlag
	var detach, verbose bool
	fs := c.flagSet("job promote", &m)
	fs.Var(&groups, "group", "promote only this group's canaries (repeatable)")
	fs.BoolVar(&detach, "detach", false, "return without monitoring the evaluation")
	fs.BoolVar(&verbose, "verbose", false, "show full IDs")
	if !c.parse(fs, args, jobPromoteUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <job>\nUsage: orch %s", jobPromoteUsage)
	}
	client, id, code := c.targetJob(&m, fs.Arg(0))
	if client == nil {
		return code
	}
	d, _, err := client.Jobs().LatestDeployment(c.ctx, id, m.query())
	if err != nil {
		return c.fail("Error retrieving deployment: %v", err)
	}
	if d == nil {
		return c.fail("Job %q has no deployment to promote", id)
	}
	resp, err := client.Deployments().Promote(c.ctx, d.ID, groups, m.query())
	if err != nil {
		return c.fail("Error promoting deployment: %v", err)
	}
	if detach {
		fmt.Fprintf(c.out, "Evaluation ID: %s\n", resp.EvalID)
		return 0
	}
	return c.monitor(client, resp.EvalID)
}

// targetJob connects to the agent and resolves the job a command names; on
// failure it has printed why and returns a nil client and the exit code.
func (c *cli) targetJob(m *meta, arg string) (*api.Client, string, int) {
	client, err := m.client()
	if err != nil {
		return nil, "", c.fail("Error initializing client: %v", err)
	}
	id, err := c.resolveJob(client, m, arg)
	if err != nil {
		return nil, "", c.report(err)
	}
	return client, id, 0
}
