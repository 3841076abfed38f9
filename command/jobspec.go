package command

import (
	"github.com/orch-project/orch/jobspec"
	"github.com/orch-project/orch/structs"
)

// The CLI's use of package jobspec, in one place.

func parseJobFile(path string, body []byte, vars, varFiles, env []string) (*structs.Job, error) {
	job, err := jobspec.Parse(jobspec.ParseConfig{
		Path: path, Body: body, ArgVars: vars, VarFiles: varFiles, Envs: env, AllowFS: true,
	})
	if err != nil {
		return nil, err
	}
	jobspec.Canonicalize(job)
	return job, nil
}

func validateJob(job *structs.Job) error { return jobspec.Validate(job) }

func exampleJob(short bool) string { return jobspec.ExampleJob(short) }
