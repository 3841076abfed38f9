package command

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

const jobRunUsage = "job run [-detach] [-verbose] [-check-index N] [-eval-priority P] [-output] [-json] [-var k=v] [-var-file F] [-address A] FILE"

func (c *cli) jobRun(args []string) int {
	var m meta
	var detach, output, verbose bool
	var checkIndex uint64
	var evalPriority int
	var in jobInput
	fs := c.flagSet("job run", &m)
	fs.BoolVar(&detach, "detach", false, "return after submitting")
	fs.BoolVar(&verbose, "verbose", false, "show full IDs")
	fs.Uint64Var(&checkIndex, "check-index", 0, "register only if the job's modify index is still this (0: only if new), as `job plan` printed it")
	fs.IntVar(&evalPriority, "eval-priority", 0, "priority of the evaluation the registration creates (1-100; default the job's)")
	fs.BoolVar(&output, "output", false, "print the job as JSON instead of submitting it")
	in.register(fs)
	if !c.parse(fs, args, jobRunUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <path>\nUsage: orch %s", jobRunUsage)
	}
	job, src, code := c.loadJob(fs.Arg(0), &in)
	if job == nil {
		return code
	}
	if m.namespace != "" {
		job.Namespace = m.namespace
	}
	if output {
		return c.printJSON(map[string]any{"Job": job})
	}
	if !c.checkJob(job) {
		return 1
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	sub := &structs.JobSubmission{Source: string(src), Format: "hcl2", VariableFlags: map[string]string{}}
	if in.json {
		sub.Format = "json"
	}
	for _, v := range in.vars {
		if k, val, ok := strings.Cut(v, "="); ok {
			sub.VariableFlags[k] = val
		}
	}
	req := &structs.JobRegisterRequest{Job: job, Submission: sub, EvalPriority: evalPriority}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "check-index" {
			req.EnforceIndex, req.JobModifyIndex = true, checkIndex
		}
	})
	resp, err := client.Jobs().RegisterRequest(c.ctx, req)
	if err != nil {
		// An index check that failed is the operator's answer, not an
		// error of the agent: say which index the job has now.
		if msg, ok := enforceIndexMessage(err); ok {
			fmt.Fprintln(c.err, msg)
			return c.fail("Job not updated")
		}
		return c.fail("Error submitting job: %v", err)
	}
	if resp.Warnings != "" {
		fmt.Fprintf(c.out, "Job Warnings:\n%s\n\n", resp.Warnings)
	}
	if detach || resp.EvalID == "" {
		fmt.Fprintln(c.out, "Job registration successful")
		if resp.EvalID != "" {
			fmt.Fprintf(c.out, "Evaluation ID: %s\n", resp.EvalID)
		}
		if job.IsPeriodicActive() {
			fmt.Fprintf(c.out, "Approximate next launch time: %s\n", nextLaunchText(job.Periodic))
		}
		return 0
	}
	return c.monitorWithDeployment(client, resp.EvalID, verbose)
}

// enforceIndexMessage extracts the server's EnforceIndex refusal.
func enforceIndexMessage(err error) (string, bool) {
	var se *api.StatusError
	if !errors.As(err, &se) {
		return "", false
	}
	msg := strings.TrimSpace(se.Body)
	return msg, strings.HasPrefix(msg, raftfsmEnforcePrefix)
}

// raftfsmEnforcePrefix starts the server's EnforceIndex refusals (Nomad's
// wording, which its CLI and API client match on too).
const raftfsmEnforcePrefix = "Enforcing job modify index"

func (c *cli) printJSON(v any) int {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return c.fail("Error encoding JSON: %v", err)
	}
	fmt.Fprintf(c.out, "%s\n", b)
	return 0
}

const jobValidateUsage = "job validate [-json] [-var k=v] [-var-file F] FILE"

func (c *cli) jobValidate(args []string) int {
	var in jobInput
	fs := c.flagSet("job validate", nil)
	in.register(fs)
	if !c.parse(fs, args, jobValidateUsage) {
		return 1
	}
	if fs.NArg() != 1 {
		return c.fail("This command takes one argument: <path>\nUsage: orch %s", jobValidateUsage)
	}
	job, _, code := c.loadJob(fs.Arg(0), &in)
	if job == nil {
		return code
	}
	if !c.checkJob(job) {
		return 1
	}
	fmt.Fprintln(c.out, "Job validation successful")
	return 0
}

const jobInitUsage = "job init [-short] [FILE]"

func (c *cli) jobInit(args []string) int {
	var short bool
	fs := c.flagSet("job init", nil)
	fs.BoolVar(&short, "short", false, "write a minimal example without comments")
	if !c.parse(fs, args, jobInitUsage) {
		return 1
	}
	if fs.NArg() > 1 {
		return c.fail("This command takes at most one argument: [FILE]\nUsage: orch %s", jobInitUsage)
	}
	name := "example.nomad.hcl"
	if fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if os.IsExist(err) {
			return c.fail("Job '%s' already exists", name)
		}
		return c.fail("Error writing job file: %v", err)
	}
	if _, err := io.WriteString(f, exampleJob(short)); err != nil {
		f.Close()
		return c.fail("Error writing job file: %v", err)
	}
	if err := f.Close(); err != nil {
		return c.fail("Error writing job file: %v", err)
	}
	fmt.Fprintf(c.out, "Example job file written to %s\n", name)
	return 0
}
