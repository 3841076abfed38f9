package command

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/orch-project/orch/drivers/catalog"
	"github.com/orch-project/orch/jobspec"
	"github.com/orch-project/orch/structs"
)

// The CLI's use of package jobspec, in one place.

// jobInput holds the flags of commands that read a job file.
type jobInput struct {
	vars, varFiles multiFlag
	json           bool
}

func (in *jobInput) register(fs *flag.FlagSet) {
	fs.Var(&in.vars, "var", "set a variable (k=v), repeatable")
	fs.Var(&in.varFiles, "var-file", "HCL or JSON file of variable values, repeatable")
	fs.BoolVar(&in.json, "json", false, "the file is API JSON (a job, bare or as {\"Job\": ...}), not HCL")
}

// loadJob reads and parses a job file ("-" is stdin). Driver config blocks
// are checked against each driver's schema, so a mistyped key is reported
// with its position. On failure it prints every error and returns a nil
// job with the exit code.
func (c *cli) loadJob(path string, in *jobInput) (*structs.Job, []byte, int) {
	var src []byte
	var err error
	if path == "-" {
		src, err = io.ReadAll(c.in)
	} else {
		src, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, nil, c.fail("Error reading job file %q: %v", path, err)
	}
	if in.json {
		if len(in.vars) > 0 || len(in.varFiles) > 0 {
			return nil, nil, c.fail("Error: -var and -var-file cannot be used with -json")
		}
		job, err := jobspec.ParseJSON(src)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "parse JSON job: ")
			sep := ": "
			if msg != "" && msg[0] >= '0' && msg[0] <= '9' {
				sep = ":" // msg starts with line:col
			}
			return nil, nil, c.fail("Error parsing job file from %s:\n%s%s%s", path, path, sep, msg)
		}
		return job, src, 0
	}
	name := path
	if path == "-" {
		name = "<stdin>"
	}
	job, err := jobspec.Parse(jobspec.ParseConfig{
		Path: name, Body: src, ArgVars: in.vars, VarFiles: in.varFiles, Envs: c.env, AllowFS: true,
		DriverSpec: catalog.Spec,
	})
	if err != nil {
		fmt.Fprintf(c.err, "Error parsing job file from %s:\n", path)
		var perr *jobspec.Error
		if !errors.As(err, &perr) {
			fmt.Fprintln(c.err, err)
			return nil, nil, 1
		}
		source := func(file string) []byte {
			if file == name {
				return src
			}
			b, _ := os.ReadFile(file) // var files; no snippet when unreadable
			return b
		}
		if werr := jobspec.WriteDiagnostics(c.err, perr.Diags, source); werr != nil {
			fmt.Fprintln(c.err, err)
		}
		return nil, nil, 1
	}
	return job, src, 0
}

// checkJob runs jobspec.Validate and every driver's own config check, and
// prints each problem on its own line. It returns false when any was found.
func (c *cli) checkJob(job *structs.Job) bool {
	err := errors.Join(jobspec.Validate(job), jobspec.ValidateDriverConfigs(job, catalog.ValidateConfig))
	if err == nil {
		return true
	}
	fmt.Fprintln(c.err, "Job validation errors:")
	for _, e := range flattenErrors(err) {
		fmt.Fprintf(c.err, "  * %s\n", e)
	}
	return false
}

// flattenErrors unwraps errors.Join trees into one message per problem.
func flattenErrors(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

func exampleJob(short bool) string { return jobspec.ExampleJob(short) }
