package httpapi

import (
	"github.com/orch-project/orch/jobspec"
	"github.com/orch-project/orch/structs"
)

// prepareJob applies the jobspec defaults the stock nomad CLI leaves to the
// server (it sends most fields as null) and rejects invalid jobs before
// they reach Raft.
func prepareJob(job *structs.Job) error {
	jobspec.Canonicalize(job)
	return jobspec.Validate(job)
}
