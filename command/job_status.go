package command

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

// nowFunc is the clock of relative times; tests may pin it.
var nowFunc = time.Now

const jobStatusUsage = "job status [-address A] [ID]"

func (c *cli) jobStatus(args []string) int {
	var m meta
	fs := c.flagSet("job status", &m)
	if !c.parse(fs, args, jobStatusUsage) {
		return 1
	}
	if fs.NArg() > 1 {
		return c.fail("This command takes at most one argument: [ID]\nUsage: orch %s", jobStatusUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	if fs.NArg() == 0 {
		jobs, _, err := client.Jobs().List(c.ctx, "", m.query())
		if err != nil {
			return c.fail("Error querying jobs: %v", err)
		}
		if len(jobs) == 0 {
			fmt.Fprintln(c.out, "No running jobs")
			return 0
		}
		rows := [][]string{{"ID", "Type", "Priority", "Status", "Submit Date"}}
		for _, j := range jobs {
			rows = append(rows, []string{j.ID, j.Type, fmt.Sprint(j.Priority), j.Status, formatUnixNano(j.SubmitTime)})
		}
		printTable(c.out, rows)
		return 0
	}
	id, err := c.resolveJob(client, &m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	return c.showJob(client, &m, id)
}

func (c *cli) showJob(client *api.Client, m *meta, id string) int {
	q := m.query()
	job, _, err := client.Jobs().Info(c.ctx, id, q)
	if err != nil {
		return c.fail("Error querying job: %v", err)
	}
	sum, _, err := client.Jobs().Summary(c.ctx, id, q)
	if err != nil {
		return c.fail("Error querying job summary: %v", err)
	}
	allocs, _, err := client.Jobs().Allocations(c.ctx, id, false, q)
	if err != nil {
		return c.fail("Error querying job allocations: %v", err)
	}
	evals, _, err := client.Jobs().Evaluations(c.ctx, id, q)
	if err != nil {
		return c.fail("Error querying job evaluations: %v", err)
	}
	status := job.Status
	if job.Stop {
		status += " (stopped)"
	}
	printKV(c.out, append([][2]string{
		{"ID", job.ID},
		{"Name", job.Name},
		{"Submit Date", formatUnixNano(job.SubmitTime)},
		{"Type", job.Type},
		{"Priority", fmt.Sprint(job.Priority)},
		{"Datacenters", strings.Join(job.Datacenters, ",")},
		{"Namespace", job.Namespace},
		{"Node Pool", job.NodePool},
		{"Status", status},
		{"Periodic", fmt.Sprint(job.IsPeriodic())},
		{"Parameterized", fmt.Sprint(job.IsParameterized())},
	}, nextLaunchRow(job)...))
	if job.IsPeriodic() || job.IsParameterized() {
		// A template runs nothing itself: Nomad shows its children instead.
		if err := c.showParentJob(client, m, job, sum); err != nil {
			return c.fail("%v", err)
		}
		return 0
	}

	fmt.Fprintln(c.out, "\nSummary")
	rows := [][]string{{"Task Group", "Queued", "Starting", "Running", "Failed", "Complete", "Lost", "Unknown"}}
	for _, g := range sortedKeys(sum.Summary) {
		s := sum.Summary[g]
		rows = append(rows, []string{g, fmt.Sprint(s.Queued), fmt.Sprint(s.Starting), fmt.Sprint(s.Running),
			fmt.Sprint(s.Failed), fmt.Sprint(s.Complete), fmt.Sprint(s.Lost), fmt.Sprint(s.Unknown)})
	}
	printTable(c.out, rows)

	if failed := latestFailedEval(evals); failed != nil {
		fmt.Fprintln(c.out, "\nPlacement Failure")
		for _, g := range sortedKeys(failed.FailedTGAllocs) {
			fmt.Fprintf(c.out, "Task Group %q:\n", g)
			for _, line := range metricReasons(failed.FailedTGAllocs[g]) {
				fmt.Fprintf(c.out, "  * %s\n", line)
			}
		}
	}

	// Nomad's CLI shows the latest deployment of service jobs.
	if d, _, err := client.Jobs().LatestDeployment(c.ctx, id, q); err == nil && d != nil {
		fmt.Fprintln(c.out, "\nLatest Deployment")
		printKV(c.out, [][2]string{{"ID", shortID(d.ID)}, {"Status", d.Status}, {"Description", d.StatusDescription}})
		fmt.Fprintln(c.out, "\nDeployed")
		printTable(c.out, deploymentRows(d))
	}

	fmt.Fprintln(c.out, "\nAllocations")
	if len(allocs) == 0 {
		fmt.Fprintln(c.out, "No allocations placed")
		return 0
	}
	sort.Slice(allocs, func(i, j int) bool { return allocs[i].CreateIndex > allocs[j].CreateIndex })
	printTable(c.out, allocRowsAt(allocs, nowFunc()))
	return 0
}

// latestFailedEval returns the newest evaluation that could not place
// everything while a blocked evaluation still waits for capacity.
func latestFailedEval(evals []*structs.Evaluation) *structs.Evaluation {
	blocked := false
	var latest *structs.Evaluation
	for _, e := range evals {
		if e.Status == structs.EvalStatusBlocked {
			blocked = true
		}
		if len(e.FailedTGAllocs) > 0 && (latest == nil || e.CreateIndex > latest.CreateIndex) {
			latest = e
		}
	}
	if !blocked {
		return nil
	}
	return latest
}

func allocRowsAt(allocs []*structs.AllocListStub, now time.Time) [][]string {
	rows := [][]string{{"ID", "Node ID", "Task Group", "Version", "Desired", "Status", "Created", "Modified"}}
	for _, a := range allocs {
		rows = append(rows, []string{shortID(a.ID), shortID(a.NodeID), a.TaskGroup, fmt.Sprint(a.JobVersion),
			a.DesiredStatus, a.ClientStatus, ago(a.CreateTime, now), ago(a.ModifyTime, now)})
	}
	return rows
}

const jobStopUsage = "job stop [-purge] [-detach] [-eval-priority P] [-no-shutdown-delay] [-address A] ID"

func (c *cli) jobStop(args []string) int {
	var m meta
	var purge, detach, noDelay bool
	var evalPriority int
	fs := c.flagSet("job stop", &m)
	fs.BoolVar(&purge, "purge", false, "remove the job from the state")
	fs.BoolVar(&noDelay, "no-shutdown-delay", false, "ignore the group and task shutdown_delay")
	fs.BoolVar(&detach, "detach", false, "return after submitting")
	fs.IntVar(&evalPriority, "eval-priority", 0, "priority of the evaluation the stop creates (1-100; default the job's)")
	if !c.parse(fs, args, jobStopUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <job>\nUsage: orch %s", jobStopUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	id, err := c.resolveJob(client, &m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	resp, err := client.Jobs().DeregisterOpts(c.ctx, id, structs.JobDeregisterOptions{Purge: purge, NoShutdownDelay: noDelay, EvalPriority: evalPriority}, m.query())
	if err != nil {
		return c.fail("Error deregistering job: %v", err)
	}
	if detach || resp.EvalID == "" {
		fmt.Fprintln(c.out, resp.EvalID)
		return 0
	}
	return c.monitor(client, resp.EvalID)
}

const jobInspectUsage = "job inspect [-address A] ID"

func (c *cli) jobInspect(args []string) int {
	var m meta
	fs := c.flagSet("job inspect", &m)
	if !c.parse(fs, args, jobInspectUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <job>\nUsage: orch %s", jobInspectUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	id, err := c.resolveJob(client, &m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	job, _, err := client.Jobs().Info(c.ctx, id, m.query())
	if err != nil {
		return c.fail("Error inspecting job: %v", err)
	}
	return c.printJSON(map[string]any{"Job": job})
}
