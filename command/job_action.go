package command

import (
	"fmt"
	"math/rand/v2"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

const jobActionUsage = "action -job J [-group G] [-task T] [-allocation A] [-i=true] [-t] [-e ~] <action>"

// jobAction is `nomad action` / `nomad job action`: run an action the job
// declares in one of its tasks, in a running allocation of that task's
// group — the one named by -allocation, or a random running one of -group.
func (c *cli) jobAction(args []string) int {
	var m meta
	var job, group, task, allocPrefix, escape string
	var stdinOn bool
	tty := ttyFlag{}
	fs := c.flagSet("action", &m)
	fs.StringVar(&job, "job", "", "the job whose action to run")
	fs.StringVar(&group, "group", "", "the task group (needed without -allocation)")
	fs.StringVar(&task, "task", "", "the task that declares the action")
	fs.StringVar(&allocPrefix, "allocation", "", "the allocation to run the action in")
	fs.BoolVar(&stdinOn, "i", true, "pass standard input to the action")
	fs.Var(&tty, "t", "run the action on a terminal (default: when standard input is one)")
	fs.StringVar(&escape, "e", "~", "escape character on a terminal (\"none\" disables it)")
	if !c.parse(fs, args, jobActionUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <action>\nUsage: orch %s", jobActionUsage)
	}
	if job == "" {
		return c.fail("A job ID is required (-job)\nUsage: orch %s", jobActionUsage)
	}
	if allocPrefix == "" && group == "" {
		return c.fail("A task group (-group) is required when no allocation is given\nUsage: orch %s", jobActionUsage)
	}
	if escape != "none" && len(escape) != 1 {
		return c.fail("-e takes one character or \"none\"\nUsage: orch %s", jobActionUsage)
	}
	client, alloc, err := c.actionAlloc(&m, job, group, allocPrefix)
	if err != nil {
		return c.report(err)
	}
	name := fs.Arg(0)
	if task, err = actionTask(alloc, task, name); err != nil {
		return c.fail("%v", err)
	}
	opts := &api.ActionOptions{AllocID: alloc.ID, Group: alloc.TaskGroup, Action: name, ExecOptions: api.ExecOptions{Task: task}}
	restore, err := c.execStdio(&opts.ExecOptions, stdinOn, tty, escape)
	if err != nil {
		return c.fail("Error setting up the terminal: %v", err)
	}
	defer restore()
	code, err := client.Jobs().Action(c.ctx, alloc.JobID, opts, &api.QueryOptions{Namespace: alloc.Namespace})
	if err != nil {
		fmt.Fprintf(c.err, "failed to run action %q: %v\n", name, err)
		return 1
	}
	return code
}

// actionAlloc finds the allocation to run the action in: the one named,
// which must belong to the job, or a random running one of the group.
func (c *cli) actionAlloc(m *meta, jobPrefix, group, allocPrefix string) (*api.Client, *structs.Allocation, error) {
	client, err := m.client()
	if err != nil {
		return nil, nil, fmt.Errorf("Error initializing client: %w", err)
	}
	jobID, err := c.resolveJob(client, m, jobPrefix)
	if err != nil {
		return nil, nil, err
	}
	if allocPrefix != "" {
		client, alloc, err := c.lookupAlloc(m, allocPrefix)
		if err != nil {
			return nil, nil, err
		}
		if alloc.JobID != jobID {
			return nil, nil, fmt.Errorf("Allocation %s does not belong to job %q", shortID(alloc.ID), jobID)
		}
		if group != "" && alloc.TaskGroup != group {
			return nil, nil, fmt.Errorf("Allocation %s is of group %q, not %q", shortID(alloc.ID), alloc.TaskGroup, group)
		}
		return client, alloc, nil
	}
	stubs, _, err := client.Jobs().Allocations(c.ctx, jobID, false, m.query())
	if err != nil {
		return nil, nil, fmt.Errorf("Error querying allocations: %w", err)
	}
	var running []string
	for _, a := range stubs {
		if a.TaskGroup == group && a.ClientStatus == structs.AllocClientStatusRunning {
			running = append(running, a.ID)
		}
	}
	if len(running) == 0 {
		return nil, nil, fmt.Errorf("No running allocations of group %q of job %q", group, jobID)
	}
	alloc, _, err := client.Allocations().Info(c.ctx, running[rand.IntN(len(running))], nil)
	if err != nil {
		return nil, nil, fmt.Errorf("Error querying allocation: %w", err)
	}
	return client, alloc, nil
}

// actionTask is the task named by -task, or else the one task of the
// allocation's group that declares the action.
func actionTask(a *structs.Allocation, task, action string) (string, error) {
	var tg *structs.TaskGroup
	if a.Job != nil {
		tg = a.Job.LookupTaskGroup(a.TaskGroup)
	}
	if tg == nil {
		return "", fmt.Errorf("Allocation %s has no group %q in its job", shortID(a.ID), a.TaskGroup)
	}
	if task != "" {
		t := tg.LookupTask(task)
		if t == nil {
			return "", fmt.Errorf("Task %q not found in group %q", task, a.TaskGroup)
		}
		if t.LookupAction(action) == nil {
			return "", fmt.Errorf("Action %q not found in task %q", action, task)
		}
		return task, nil
	}
	var with []string
	for _, t := range tg.Tasks {
		if t.LookupAction(action) != nil {
			with = append(with, t.Name)
		}
	}
	switch len(with) {
	case 0:
		return "", fmt.Errorf("Action %q not found in group %q", action, a.TaskGroup)
	case 1:
		return with[0], nil
	}
	return "", fmt.Errorf("Action %q is declared by several tasks of group %q (%v): name one with -task", action, a.TaskGroup, with)
}
