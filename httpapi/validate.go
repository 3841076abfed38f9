package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/orch-project/orch/drivers/catalog"
	"github.com/orch-project/orch/jobspec"
	"github.com/orch-project/orch/structs"
)

// prepareJob applies the jobspec defaults the stock nomad CLI leaves to the
// server (it sends most fields as null) and rejects invalid jobs before
// they reach Raft. Jobs arrive as JSON, never through a driver's HCL
// schema, so each task's config is also put to its driver's own check.
//
// body is the request body the job was decoded from, {"Job": {...}}: a
// field that is null or absent there takes its default, as in Nomad.
func prepareJob(job *structs.Job, body []byte) error {
	var env struct{ Job json.RawMessage }
	if json.Unmarshal(body, &env) != nil {
		env.Job = nil
	}
	jobspec.CanonicalizeJSON(job, env.Job)
	return errors.Join(jobspec.Validate(job), jobspec.ValidateDriverConfigs(job, catalog.ValidateConfig))
}

// JobValidateRequest is the body of PUT /v1/validate/job.
type JobValidateRequest struct {
	Job       *structs.Job
	Region    string `json:",omitempty"`
	Namespace string `json:",omitempty"`
}

// JobValidateResponse is Nomad's answer to a validate request: problems
// are data here, not an HTTP error.
type JobValidateResponse struct {
	// DriverConfigValidated says the drivers' own config checks ran.
	DriverConfigValidated bool
	ValidationErrors      []string
	// Error is every validation error in one string.
	Error    string
	Warnings string
}

// jobValidate answers 200 even for an invalid job, as Nomad does; only a
// request without a job is a 400.
func (s *Server) jobValidate(w http.ResponseWriter, r *http.Request) {
	var req JobValidateRequest
	body, err := decodeBodyRaw(r, &req)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.Job == nil {
		writeError(w, codedErr(http.StatusBadRequest, "Job must be specified"))
		return
	}
	job := req.Job
	if job.Namespace == "" {
		job.Namespace = req.Namespace
	}
	if job.Namespace == "" {
		job.Namespace = namespaceOf(r)
	}
	resp := &JobValidateResponse{DriverConfigValidated: true}
	resp.Warnings = joinWarnings("", jobspec.UndoClientConsulDefault(job, nil))
	if err := prepareJob(job, body); err != nil {
		resp.ValidationErrors = flattenErrors(err)
		resp.Error = formatErrorList(resp.ValidationErrors)
	}
	writeJSON(w, r, http.StatusOK, resp)
}

// formatErrorList renders errors the way Nomad's multierror does.
func formatErrorList(errs []string) string {
	if len(errs) == 1 {
		return "1 error occurred:\n\t* " + errs[0] + "\n\n"
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(errs)) + " errors occurred:\n")
	for _, e := range errs {
		b.WriteString("\t* " + e + "\n")
	}
	b.WriteString("\n")
	return b.String()
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

// JobsParseRequest is the body of POST /v1/jobs/parse.
type JobsParseRequest struct {
	JobHCL       string
	HCLv1        bool `json:"hclv1,omitempty"`
	Variables    string
	Canonicalize bool
}

// parseFileName names the submitted source in error positions.
const parseFileName = "input.hcl"

// jobsParse turns HCL into the API's job JSON. Errors are plain text with
// file:line:col and the offending source line. The job always comes back
// with defaults applied: orch's job fields are not nullable, so an
// "uncanonicalized" job would carry zeros (count = 0) where Nomad carries
// nulls, and resubmitting it would change its meaning.
func (s *Server) jobsParse(w http.ResponseWriter, r *http.Request) {
	var req JobsParseRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.HCLv1 {
		writeError(w, codedErr(http.StatusBadRequest, "HCLv1 job files are not supported; use HCL2 syntax"))
		return
	}
	if strings.TrimSpace(req.JobHCL) == "" {
		writeError(w, codedErr(http.StatusBadRequest, "Job HCL must be specified"))
		return
	}
	src := []byte(req.JobHCL)
	job, err := jobspec.Parse(jobspec.ParseConfig{
		Path: parseFileName, Body: src, VarContent: []byte(req.Variables), VarContentName: "variables.hcl",
		DriverSpec: catalog.Spec,
	})
	if err != nil {
		var perr *jobspec.Error
		if !errors.As(err, &perr) {
			writeError(w, codedErr(http.StatusBadRequest, "%v", err))
			return
		}
		var b bytes.Buffer
		_ = jobspec.WriteDiagnostics(&b, perr.Diags, func(name string) []byte {
			switch name {
			case parseFileName:
				return src
			case "variables.hcl":
				return []byte(req.Variables)
			}
			return nil
		})
		writeError(w, codedErr(http.StatusBadRequest, "%s", strings.TrimRight(b.String(), "\n")))
		return
	}
	writeJSON(w, r, http.StatusOK, job)
}
