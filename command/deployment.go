package command

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

// The deployment commands: list, status, promote, fail, pause, resume.

func (c *cli) deploymentCommands() map[string]func([]string) int {
	return map[string]func([]string) int{
		"list": c.deploymentList, "status": c.deploymentStatus, "promote": c.deploymentPromote,
		"fail": c.deploymentFail, "pause": c.deploymentPause, "resume": c.deploymentResume,
	}
}

const deploymentListUsage = "deployment list [-json] [-verbose] [-address A]"

func (c *cli) deploymentList(args []string) int {
	var m meta
	var asJSON, verbose bool
	fs := c.flagSet("deployment list", &m)
	fs.BoolVar(&asJSON, "json", false, "print the deployments as JSON")
	fs.BoolVar(&verbose, "verbose", false, "show full IDs")
	if !c.parse(fs, args, deploymentListUsage) {
		return 1
	}
	if fs.NArg() != 0 {
		return c.fail("This command takes no arguments\nUsage: orch %s", deploymentListUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	deps, _, err := client.Deployments().List(c.ctx, "", m.query())
	if err != nil {
		return c.fail("Error retrieving deployments: %v", err)
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].CreateIndex > deps[j].CreateIndex })
	if asJSON {
		return c.printJSON(deps)
	}
	if len(deps) == 0 {
		fmt.Fprintln(c.out, "No deployments found")
		return 0
	}
	rows := [][]string{{"ID", "Job ID", "Job Version", "Status", "Description"}}
	for _, d := range deps {
		rows = append(rows, []string{idOf(d.ID, verbose), d.JobID, strconv.FormatUint(d.JobVersion, 10), d.Status, d.StatusDescription})
	}
	printTable(c.out, rows)
	return 0
}

func idOf(id string, verbose bool) string {
	if verbose {
		return id
	}
	return shortID(id)
}

// resolveDeployment turns a deployment ID prefix into one deployment.
func (c *cli) resolveDeployment(client *api.Client, m *meta, prefix string) (*structs.Deployment, error) {
	deps, _, err := client.Deployments().List(c.ctx, prefix, m.query())
	if err != nil {
		return nil, fmt.Errorf("Error retrieving deployment: %w", err)
	}
	for _, d := range deps {
		if d.ID == prefix {
			return d, nil
		}
	}
	switch len(deps) {
	case 0:
		return nil, fmt.Errorf("No deployment(s) with prefix or id %q found", prefix)
	case 1:
		return deps[0], nil
	}
	rows := [][]string{{"ID", "Job ID", "Job Version", "Status", "Description"}}
	for _, d := range deps {
		rows = append(rows, []string{shortID(d.ID), d.JobID, strconv.FormatUint(d.JobVersion, 10), d.Status, d.StatusDescription})
	}
	fmt.Fprintf(c.err, "Prefix matched multiple deployments\n\n")
	printTable(c.err, rows)
	return nil, errReported
}

const deploymentStatusUsage = "deployment status [-json] [-verbose] [-monitor] [-address A] <deployment>"

func (c *cli) deploymentStatus(args []string) int {
	var m meta
	var asJSON, verbose, monitor bool
	fs := c.flagSet("deployment status", &m)
	fs.BoolVar(&asJSON, "json", false, "print the deployment as JSON")
	fs.BoolVar(&verbose, "verbose", false, "show full IDs")
	fs.BoolVar(&monitor, "monitor", false, "follow the deployment until it ends")
	if !c.parse(fs, args, deploymentStatusUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <deployment>\nUsage: orch %s", deploymentStatusUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	d, err := c.resolveDeployment(client, &m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	if monitor {
		return c.monitorDeployment(client, d.ID, verbose)
	}
	if asJSON {
		return c.printJSON(d)
	}
	c.printDeployment(d, verbose)
	return 0
}

// printDeployment prints a deployment as `nomad deployment status` does.
func (c *cli) printDeployment(d *structs.Deployment, verbose bool) {
	printKV(c.out, [][2]string{
		{"ID", idOf(d.ID, verbose)}, {"Job ID", d.JobID}, {"Job Version", strconv.FormatUint(d.JobVersion, 10)},
		{"Status", d.Status}, {"Description", d.StatusDescription},
	})
	fmt.Fprintf(c.out, "\nDeployed\n")
	printTable(c.out, deploymentRows(d))
}

// deploymentRows is the per-group progress table; the canary and promotion
// columns appear only when some group has canaries, auto-revert only when
// some group asks for it.
func deploymentRows(d *structs.Deployment) [][]string {
	canaries, revert := false, false
	names := make([]string, 0, len(d.TaskGroups))
	for name, st := range d.TaskGroups {
		names = append(names, name)
		canaries = canaries || st.DesiredCanaries > 0
		revert = revert || st.AutoRevert
	}
	sort.Strings(names)
	head := []string{"Task Group"}
	if revert {
		head = append(head, "Auto Revert")
	}
	if canaries {
		head = append(head, "Promoted")
	}
	head = append(head, "Desired")
	if canaries {
		head = append(head, "Canaries")
	}
	head = append(head, "Placed", "Healthy", "Unhealthy", "Progress Deadline")
	rows := [][]string{head}
	for _, name := range names {
		st := d.TaskGroups[name]
		row := []string{name}
		if revert {
			row = append(row, strconv.FormatBool(st.AutoRevert))
		}
		if canaries {
			promoted := "N/A"
			if st.DesiredCanaries > 0 {
				promoted = strconv.FormatBool(st.Promoted)
			}
			row = append(row, promoted)
		}
		row = append(row, strconv.Itoa(st.DesiredTotal))
		if canaries {
			row = append(row, strconv.Itoa(st.DesiredCanaries))
		}
		deadline := "N/A"
		if !st.RequireProgressBy.IsZero() {
			deadline = formatTime(st.RequireProgressBy)
		}
		row = append(row, strconv.Itoa(st.PlacedAllocs), strconv.Itoa(st.HealthyAllocs), strconv.Itoa(st.UnhealthyAllocs), deadline)
		rows = append(rows, row)
	}
	return rows
}

const deploymentPromoteUsage = "deployment promote [-group G]... [-detach] [-address A] <deployment>"

func (c *cli) deploymentPromote(args []string) int {
	var m meta
	var groups multiFlag
	var detach, verbose bool
	fs := c.flagSet("deployment promote", &m)
	fs.Var(&groups, "group", "promote only this group's canaries (repeatable)")
	fs.BoolVar(&detach, "detach", false, "return without monitoring the evaluation")
	fs.BoolVar(&verbose, "verbose", false, "show full IDs")
	if !c.parse(fs, args, deploymentPromoteUsage) {
		return 1
	}
	return c.deploymentWrite(fs.Args(), &m, deploymentPromoteUsage, detach, verbose, func(client *api.Client, d *structs.Deployment) (*structs.DeploymentUpdateResponse, error) {
		return client.Deployments().Promote(c.ctx, d.ID, groups, m.query())
	}, "Error promoting deployment")
}

const deploymentFailUsage = "deployment fail [-detach] [-address A] <deployment>"

func (c *cli) deploymentFail(args []string) int {
	var m meta
	var detach, verbose bool
	fs := c.flagSet("deployment fail", &m)
	fs.BoolVar(&detach, "detach", false, "return without monitoring the evaluation")
	fs.BoolVar(&verbose, "verbose", false, "show full IDs")
	if !c.parse(fs, args, deploymentFailUsage) {
		return 1
	}
	return c.deploymentWrite(fs.Args(), &m, deploymentFailUsage, detach, verbose, func(client *api.Client, d *structs.Deployment) (*structs.DeploymentUpdateResponse, error) {
		resp, err := client.Deployments().Fail(c.ctx, d.ID, m.query())
		if err == nil {
			msg := fmt.Sprintf("Deployment %q failed", idOf(d.ID, verbose))
			if resp.RevertedJobVersion != nil {
				msg += fmt.Sprintf(". Auto-reverted to job version %d", *resp.RevertedJobVersion)
			}
			fmt.Fprintln(c.out, msg+".")
		}
		return resp, err
	}, "Error failing deployment")
}

const deploymentPauseUsage = "deployment pause [-address A] <deployment>"

func (c *cli) deploymentPause(args []string) int {
	return c.deploymentPauseResume(args, true)
}

const deploymentResumeUsage = "deployment resume [-detach] [-address A] <deployment>"

func (c *cli) deploymentResume(args []string) int {
	return c.deploymentPauseResume(args, false)
}

func (c *cli) deploymentPauseResume(args []string, pause bool) int {
	var m meta
	var detach, verbose bool
	name, usage, verb := "deployment resume", deploymentResumeUsage, "resumed"
	if pause {
		name, usage, verb = "deployment pause", deploymentPauseUsage, "paused"
	}
	fs := c.flagSet(name, &m)
	fs.BoolVar(&detach, "detach", false, "return without monitoring the evaluation")
	fs.BoolVar(&verbose, "verbose", false, "show full IDs")
	if !c.parse(fs, args, usage) {
		return 1
	}
	return c.deploymentWrite(fs.Args(), &m, usage, detach || pause, verbose, func(client *api.Client, d *structs.Deployment) (*structs.DeploymentUpdateResponse, error) {
		resp, err := client.Deployments().Pause(c.ctx, d.ID, pause, m.query())
		if err == nil {
			fmt.Fprintf(c.out, "Deployment %q %s\n", idOf(d.ID, verbose), verb)
		}
		return resp, err
	}, "Error "+strings.TrimSuffix(verb, "d")+"ing deployment")
}

// deploymentWrite resolves the deployment argument, runs write and follows
// the evaluation it created unless detached.
func (c *cli) deploymentWrite(args []string, m *meta, usage string, detach, verbose bool,
	write func(*api.Client, *structs.Deployment) (*structs.DeploymentUpdateResponse, error), errPrefix string) int {
	if len(args) != 1 {
		return c.fail("This command takes one argument: <deployment>\nUsage: orch %s", usage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	d, err := c.resolveDeployment(client, m, args[0])
	if err != nil {
		return c.report(err)
	}
	resp, err := write(client, d)
	if err != nil {
		return c.fail("%s: %v", errPrefix, err)
	}
	if resp.EvalID == "" {
		return 0
	}
	if detach {
		fmt.Fprintf(c.out, "Evaluation ID: %s\n", resp.EvalID)
		return 0
	}
	return c.monitor(client, resp.EvalID)
}

// monitorDeployment follows a deployment until it ends, redrawing its
// per-group progress when it changes, and then follows the rollback an
// auto-revert started. It returns 0 when the deployment (or the rollback)
// succeeded, 1 otherwise.
func (c *cli) monitorDeployment(client *api.Client, id string, verbose bool) int {
	var index uint64
	last := ""
	for {
		d, qm, err := client.Deployments().Info(c.ctx, id, &api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second})
		if err != nil {
			if c.ctx.Err() != nil {
				return 1
			}
			fmt.Fprintf(c.err, "Error fetching deployment: %v\n", err)
			return 1
		}
		index = qm.LastIndex
		if view := deploymentView(d, verbose); view != last {
			last = view
			fmt.Fprintf(c.out, "    %s: Deployment %q in progress...\n\n%s", time.Now().Local().Format(time.RFC3339), idOf(d.ID, verbose), view)
		}
		switch d.Status {
		case structs.DeploymentStatusSuccessful:
			fmt.Fprintf(c.out, "\n    %s: Deployment %q successful\n", time.Now().Local().Format(time.RFC3339), idOf(d.ID, verbose))
			return 0
		case structs.DeploymentStatusFailed, structs.DeploymentStatusCancelled:
			fmt.Fprintf(c.out, "\n    %s: Deployment %q %s\n", time.Now().Local().Format(time.RFC3339), idOf(d.ID, verbose), d.Status)
			if next := c.rollback(client, d); next != "" {
				fmt.Fprintf(c.out, "\n==> %s: Monitoring rollback deployment %q\n", time.Now().Local().Format(time.RFC3339), idOf(next, verbose))
				c.monitorDeployment(client, next, verbose)
			}
			return 1
		}
	}
}

// rollback finds the deployment an auto-revert of d started, "" when none.
func (c *cli) rollback(client *api.Client, d *structs.Deployment) string {
	if !strings.Contains(d.StatusDescription, "rolling back to job version") {
		return ""
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && c.ctx.Err() == nil {
		latest, _, err := client.Jobs().LatestDeployment(c.ctx, d.JobID, &api.QueryOptions{Namespace: d.Namespace})
		if err == nil && latest != nil && latest.ID != d.ID && latest.CreateIndex > d.CreateIndex {
			return latest.ID
		}
		time.Sleep(200 * time.Millisecond)
	}
	return ""
}

// deploymentView renders a deployment's state for the monitor.
func deploymentView(d *structs.Deployment, verbose bool) string {
	var b strings.Builder
	printKV(&b, [][2]string{{"ID", idOf(d.ID, verbose)}, {"Job ID", d.JobID},
		{"Job Version", strconv.FormatUint(d.JobVersion, 10)}, {"Status", d.Status}, {"Description", d.StatusDescription}})
	fmt.Fprintf(&b, "\nDeployed\n")
	printTable(&b, deploymentRows(d))
	fmt.Fprintln(&b)
	return b.String()
}

// monitorWithDeployment follows an evaluation and then the deployment it
// belongs to, as `nomad job run` does: 0 when both succeed, 2 when
// placements failed, 1 when the deployment failed.
func (c *cli) monitorWithDeployment(client *api.Client, evalID string, verbose bool) int {
	code := c.monitor(client, evalID)
	if code != 0 {
		return code
	}
	ev, _, err := client.Evaluations().Info(c.ctx, evalID, nil)
	if err != nil {
		fmt.Fprintf(c.err, "Error reading evaluation: %v\n", err)
		return 1
	}
	if ev.DeploymentID == "" {
		return 0
	}
	fmt.Fprintf(c.out, "==> %s: Monitoring deployment %q\n", time.Now().Local().Format(time.RFC3339), idOf(ev.DeploymentID, verbose))
	return c.monitorDeployment(client, ev.DeploymentID, verbose)
}
