package command

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

const jobDispatchUsage = "job dispatch [-detach] [-meta k=v]... [-id-prefix-template P] [-idempotency-token T] [-priority N] [-address A] [-namespace N] JOB [PAYLOAD FILE | -]"

// jobDispatch is `orch job dispatch`: a child of a parameterized job with
// a payload (a file, or stdin for "-") and meta, then, like Nomad, the
// child's evaluation is monitored unless -detach.
func (c *cli) jobDispatch(args []string) int {
	var m meta
	var detach bool
	var metaKV kvFlag
	var prefix, token string
	var priority int
	fs := c.flagSet("job dispatch", &m)
	fs.BoolVar(&detach, "detach", false, "return after submitting")
	fs.Var(&metaKV, "meta", "meta key=value for the dispatched job (repeatable)")
	fs.StringVar(&prefix, "id-prefix-template", "", "prefix of the dispatched job's ID")
	fs.StringVar(&token, "idempotency-token", "", "dispatch at most one job with this token")
	fs.IntVar(&priority, "priority", 0, "priority of the dispatched job (default: the parent's)")
	if !c.parse(fs, args, jobDispatchUsage) {
		return 1
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return c.fail("This command takes one or two arguments: <parameterized job> [input source]\nUsage: orch %s", jobDispatchUsage)
	}
	var payload []byte
	if fs.NArg() == 2 {
		var err error
		if payload, err = c.readPayload(fs.Arg(1)); err != nil {
			return c.fail("%v", err)
		}
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	resp, err := client.Jobs().Dispatch(c.ctx, &structs.JobDispatchRequest{
		JobID: fs.Arg(0), Payload: payload, Meta: metaKV.m, IdPrefixTemplate: prefix, Priority: priority,
	}, token, m.query())
	if err != nil {
		return c.fail("Failed to dispatch job: %v", err)
	}
	kv := [][2]string{{"Dispatched Job ID", resp.DispatchedJobID}}
	if resp.EvalID != "" {
		kv = append(kv, [2]string{"Evaluation ID", shortID(resp.EvalID)})
	}
	printKV(c.out, kv)
	if detach || resp.EvalID == "" {
		return 0
	}
	fmt.Fprintln(c.out)
	return c.monitor(client, resp.EvalID)
}

// readPayload reads a dispatch payload from a file or stdin ("-"), at
// most one byte over the limit so an oversized input fails here.
func (c *cli) readPayload(src string) ([]byte, error) {
	var r io.Reader
	if src == "-" {
		r = c.in
	} else {
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("Error opening payload file: %v", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, structs.DispatchPayloadSizeLimit+1))
	if err != nil {
		return nil, fmt.Errorf("Error reading payload: %v", err)
	}
	if len(b) > structs.DispatchPayloadSizeLimit {
		return nil, fmt.Errorf("Payload exceeds maximum size; %d > %d", len(b), structs.DispatchPayloadSizeLimit)
	}
	return b, nil
}

const jobPeriodicForceUsage = "job periodic force [-detach] [-address A] [-namespace N] JOB"

// jobPeriodic is `orch job periodic force JOB`.
func (c *cli) jobPeriodic(args []string) int {
	if len(args) == 0 || args[0] != "force" {
		return c.usageErr("Usage: orch %s", jobPeriodicForceUsage)
	}
	var m meta
	var detach bool
	fs := c.flagSet("job periodic force", &m)
	fs.BoolVar(&detach, "detach", false, "return after submitting")
	if !c.parse(fs, args[1:], jobPeriodicForceUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <job>\nUsage: orch %s", jobPeriodicForceUsage)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	jobID, err := c.resolveJob(client, &m, fs.Arg(0))
	if err != nil {
		return c.report(err)
	}
	resp, err := client.Jobs().PeriodicForce(c.ctx, jobID, m.query())
	if err != nil {
		return c.fail("Error forcing periodic job %q: %v", jobID, err)
	}
	if detach || resp.EvalID == "" {
		fmt.Fprintln(c.out, "Force periodic successful")
		if resp.EvalID != "" {
			fmt.Fprintf(c.out, "Evaluation ID: %s\n", resp.EvalID)
		}
		return 0
	}
	return c.monitor(client, resp.EvalID)
}

// showParentJob prints what `job status` shows of a periodic or
// parameterized job, as Nomad does: the next launch or the parameters, the
// children's summary and the children.
func (c *cli) showParentJob(client *api.Client, m *meta, job *structs.Job, sum *structs.JobSummary) error {
	if p := job.ParameterizedJob; job.IsParameterized() && p != nil {
		fmt.Fprintln(c.out, "\nParameterized Job")
		printKV(c.out, [][2]string{{"Payload", p.Payload}, {"Required Metadata", strings.Join(p.MetaRequired, ", ")},
			{"Optional Metadata", strings.Join(p.MetaOptional, ", ")}})
	}
	title, listTitle := "Children Job Summary", "Previously Launched Jobs"
	if job.IsParameterized() {
		title, listTitle = "Parameterized Job Summary", "Dispatched Jobs"
	}
	ch := sum.Children
	if ch == nil {
		ch = &structs.JobChildrenSummary{}
	}
	fmt.Fprintf(c.out, "\n%s\n", title)
	printTable(c.out, [][]string{{"Pending", "Running", "Dead"}, {fmt.Sprint(ch.Pending), fmt.Sprint(ch.Running), fmt.Sprint(ch.Dead)}})
	kids, err := client.Jobs().Children(c.ctx, job.ID, m.query())
	if err != nil {
		return fmt.Errorf("Error querying child jobs: %v", err)
	}
	fmt.Fprintf(c.out, "\n%s\n", listTitle)
	if len(kids) == 0 {
		fmt.Fprintln(c.out, "No instances of periodic or dispatched job found")
		return nil
	}
	sort.Slice(kids, func(i, j int) bool { return kids[i].SubmitTime > kids[j].SubmitTime })
	rows := [][]string{{"ID", "Status"}}
	for _, k := range kids {
		rows = append(rows, []string{k.ID, k.Status})
	}
	printTable(c.out, rows)
	return nil
}

// nextLaunchRow is the "Next Periodic Launch" row of `job status` for a
// periodic job (none for others).
func nextLaunchRow(job *structs.Job) [][2]string {
	if !job.IsPeriodic() || job.IsParameterized() {
		return nil
	}
	next := "none"
	if job.IsPeriodicActive() {
		next = nextLaunchText(job.Periodic)
	}
	return [][2]string{{"Next Periodic Launch", next}}
}

// nextLaunchText is a periodic job's next launch as Nomad's CLI prints it:
// the time in the job's zone and how far away it is.
func nextLaunchText(p *structs.PeriodicConfig) string {
	t := p.Next(time.Now())
	if t.IsZero() {
		return "none"
	}
	return fmt.Sprintf("%s (%s from now)", t.In(p.Location()).Format("2006-01-02T15:04:05Z07:00"),
		time.Until(t).Round(time.Second))
}
