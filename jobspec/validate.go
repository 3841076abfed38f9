package jobspec

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/cronexpr"

	"github.com/orch-project/orch/structs"
)

// KnownDrivers are the task drivers orch ships.
var KnownDrivers = []string{"raw_exec", "exec", "docker", "java"}

// Limits Validate enforces (Nomad's documented bounds).
const (
	minPriority        = 1
	maxPriority        = 100
	minRescheduleDelay = 5 * time.Second
)

// ValidationError is one problem found by Validate, with where it is.
type ValidationError struct {
	// Path locates the problem, e.g. `group "web" -> task "srv"`; empty
	// for job-level problems.
	Path string
	Msg  string
	// trail holds the addresses of the job objects the problem lies in,
	// outermost first, so the HCL path can point at the source position.
	trail []any
	// block says the refused field is a block rather than an argument.
	block bool
}

func (e *ValidationError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// validator gathers every problem instead of stopping at the first.
type validator struct {
	errs []error
	// fields: the field-state refusals apply (see validate).
	fields bool
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &ValidationError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func joinPath(parent, elem string) string {
	if parent == "" {
		return elem
	}
	return parent + " -> " + elem
}

// Validate checks a (canonicalized) job and returns every problem at once,
// joined with errors.Join; each is a *ValidationError naming its location.
func Validate(job *structs.Job) error {
	if job == nil {
		return errors.New("job is nil")
	}
	return validate(job, true)
}

// validate runs the checks; fields says whether the field-state table
// is consulted (only this package's parser tests turn it off).
func validate(job *structs.Job, fields bool) error {
	v := &validator{fields: fields}
	if fields {
		for _, e := range checkFields(job) {
			v.errs = append(v.errs, e)
		}
	}
	v.job(job)
	return errors.Join(v.errs...)
}

var validJobTypes = []string{structs.JobTypeService, structs.JobTypeBatch, structs.JobTypeSystem, structs.JobTypeSysBatch}

func (v *validator) job(job *structs.Job) {
	switch {
	case job.ID == "":
		v.add("", "missing job ID")
	case strings.ContainsAny(job.ID, " \x00"):
		v.add("", "job ID %q must not contain spaces or null characters", job.ID)
	}
	if job.Name == "" {
		v.add("", "missing job name")
	}
	if job.Region == "" {
		v.add("", "missing job region")
	}
	if job.Namespace == "" {
		v.add("", "missing job namespace")
	}
	if !contains(validJobTypes, job.Type) {
		v.add("", "invalid job type %q: must be one of %s", job.Type, strings.Join(validJobTypes, ", "))
	}
	if job.Priority < minPriority || job.Priority > maxPriority {
		v.add("", "priority %d must be between %d and %d", job.Priority, minPriority, maxPriority)
	}
	if len(job.Datacenters) == 0 {
		v.add("", "datacenters must not be empty")
	}
	for _, dc := range job.Datacenters {
		if dc == "" {
			v.add("", "datacenters must not contain an empty name")
		}
	}
	v.constraints("", job.Constraints)
	v.affinities("", job.Affinities)
	v.spreads("", job.Spreads)
	batchLike := job.Type == structs.JobTypeBatch || job.Type == structs.JobTypeSysBatch
	if job.Periodic != nil {
		v.periodic(job)
		if job.Periodic.Enabled && !batchLike {
			v.add("periodic", "periodic jobs must be of type batch or sysbatch, not %q", job.Type)
		}
	}
	if p := job.ParameterizedJob; p != nil {
		if !batchLike {
			v.add("parameterized", "parameterized jobs must be of type batch or sysbatch, not %q", job.Type)
		}
		if !contains([]string{"optional", "required", "forbidden"}, p.Payload) {
			v.add("parameterized", "invalid payload %q: must be optional, required or forbidden", p.Payload)
		}
		for _, k := range p.MetaRequired {
			if contains(p.MetaOptional, k) {
				v.add("parameterized", "meta key %q is both required and optional", k)
			}
		}
	}
	if job.Update != nil {
		v.update("update", job.Update)
		v.updateForType("update", job.Type, job.Update, false)
	}
	if job.Migrate != nil {
		v.migrate("migrate", job.Migrate)
	}
	if job.Reschedule != nil {
		v.reschedule("reschedule", job.Type, job.Reschedule)
	}

	if len(job.TaskGroups) == 0 {
		v.add("", "job must have at least one group")
	}
	seen := map[string]bool{}
	for i, tg := range job.TaskGroups {
		if tg == nil {
			v.add(fmt.Sprintf("group[%d]", i), "group is null")
			continue
		}
		path := fmt.Sprintf("group %q", tg.Name)
		if tg.Name == "" {
			path = fmt.Sprintf("group[%d]", i)
			v.add(path, "missing group name")
		} else if err := checkDirName(tg.Name); err != nil {
			v.add(path, "invalid group name: %v", err)
		} else if seen[tg.Name] {
			v.add(path, "duplicate group name %q", tg.Name)
		}
		seen[tg.Name] = true
		v.group(job, path, tg)
	}
}

func (v *validator) periodic(job *structs.Job) {
	p := job.Periodic
	if !p.Enabled {
		return
	}
	if p.SpecType != "" && p.SpecType != "cron" {
		v.add("periodic", "unknown spec type %q", p.SpecType)
		return
	}
	specs := p.Specs
	if p.Spec != "" {
		specs = append([]string{p.Spec}, specs...)
	}
	if len(specs) == 0 {
		v.add("periodic", "missing cron expression")
	}
	for _, s := range specs {
		if _, err := cronexpr.Parse(s); err != nil {
			v.add("periodic", "invalid cron expression %q: %v", s, err)
		}
	}
	if p.TimeZone != "" {
		if _, err := time.LoadLocation(p.TimeZone); err != nil {
			v.add("periodic", "invalid time zone %q: %v", p.TimeZone, err)
		}
	}
}

func (v *validator) update(path string, u *structs.UpdateStrategy) {
	if u.MaxParallel < 0 {
		v.add(path, "max_parallel must not be negative")
	}
	if u.Canary < 0 {
		v.add(path, "canary must not be negative")
	}
	if u.MaxParallel == 0 {
		// Updates are disabled; the rest does not apply.
		return
	}
	if !contains([]string{"checks", "task_states", "manual"}, u.HealthCheck) {
		v.add(path, "invalid health_check %q: must be checks, task_states or manual", u.HealthCheck)
	}
	if u.MinHealthyTime < 0 {
		v.add(path, "min_healthy_time must not be negative")
	}
	if u.HealthyDeadline <= 0 {
		v.add(path, "healthy_deadline must be greater than zero")
	}
	if u.ProgressDeadline < 0 {
		v.add(path, "progress_deadline must not be negative")
	}
	if u.MinHealthyTime >= u.HealthyDeadline && u.HealthyDeadline > 0 {
		v.add(path, "min_healthy_time (%s) must be less than healthy_deadline (%s)", u.MinHealthyTime, u.HealthyDeadline)
	}
	if u.ProgressDeadline != 0 && u.HealthyDeadline >= u.ProgressDeadline {
		v.add(path, "healthy_deadline (%s) must be less than progress_deadline (%s)", u.HealthyDeadline, u.ProgressDeadline)
	}
	if u.Stagger <= 0 {
		v.add(path, "stagger must be greater than zero")
	}
}

func (v *validator) migrate(path string, m *structs.MigrateStrategy) {
	if m.MaxParallel < 0 {
		v.add(path, "max_parallel must not be negative")
	}
	if !contains([]string{"checks", "task_states"}, m.HealthCheck) {
		v.add(path, "invalid health_check %q: must be checks or task_states", m.HealthCheck)
	}
	if m.MinHealthyTime < 0 {
		v.add(path, "min_healthy_time must not be negative")
	}
	if m.HealthyDeadline <= 0 {
		v.add(path, "healthy_deadline must be greater than zero")
	} else if m.MinHealthyTime >= m.HealthyDeadline {
		v.add(path, "min_healthy_time (%s) must be less than healthy_deadline (%s)", m.MinHealthyTime, m.HealthyDeadline)
	}
}

var validDelayFunctions = []string{"constant", "exponential", "fibonacci"}

func (v *validator) reschedule(path, jobType string, r *structs.ReschedulePolicy) {
	if jobType == structs.JobTypeSystem || jobType == structs.JobTypeSysBatch {
		v.add(path, "reschedule does not apply to %s jobs", jobType)
		return
	}
	if r.Attempts < 0 {
		v.add(path, "attempts must not be negative")
	}
	disabled := !r.Unlimited && r.Attempts == 0
	if disabled {
		return
	}
	if !contains(validDelayFunctions, r.DelayFunction) {
		v.add(path, "invalid delay_function %q: must be one of %s", r.DelayFunction, strings.Join(validDelayFunctions, ", "))
	}
	if r.Delay < minRescheduleDelay {
		v.add(path, "delay %s must be at least %s", r.Delay, minRescheduleDelay)
	}
	if r.DelayFunction != "constant" && r.MaxDelay < r.Delay {
		v.add(path, "max_delay (%s) must not be less than delay (%s) with delay_function %q", r.MaxDelay, r.Delay, r.DelayFunction)
	}
	if !r.Unlimited && r.Interval <= 0 {
		v.add(path, "interval must be greater than zero when attempts is limited")
	}
}

func (v *validator) restart(path string, r *structs.RestartPolicy) {
	if r.Mode != structs.RestartPolicyModeDelay && r.Mode != structs.RestartPolicyModeFail {
		v.add(path, "invalid restart mode %q: must be %q or %q", r.Mode, structs.RestartPolicyModeDelay, structs.RestartPolicyModeFail)
	}
	if r.Attempts < 0 {
		v.add(path, "restart attempts must not be negative")
	}
	if r.Delay < 0 {
		v.add(path, "restart delay must not be negative")
	}
	if r.Attempts > 0 {
		if r.Interval <= 0 {
			v.add(path, "restart interval must be greater than zero with %d attempts", r.Attempts)
		} else if time.Duration(r.Attempts)*r.Delay > r.Interval {
			v.add(path, "cannot restart %d times with a delay of %s within an interval of %s", r.Attempts, r.Delay, r.Interval)
		}
	}
}

var validOperands = []string{
	structs.ConstraintEqual, "==", "is", structs.ConstraintNotEqual, "not", structs.ConstraintLess,
	structs.ConstraintLessEqual, structs.ConstraintGreater, structs.ConstraintGreaterEqual,
	structs.ConstraintRegex, structs.ConstraintVersion, structs.ConstraintSemver,
	structs.ConstraintSetContains, "set_contains_all", structs.ConstraintSetContainsAny,
	structs.ConstraintIsSet, structs.ConstraintIsNotSet,
	structs.ConstraintDistinctHosts, structs.ConstraintDistinctProperty,
}

func (v *validator) constraints(path string, cs []*structs.Constraint) {
	for i, c := range cs {
		p := joinPath(path, fmt.Sprintf("constraint[%d]", i))
		if c == nil {
			v.add(p, "constraint is null")
			continue
		}
		if !contains(validOperands, c.Operand) {
			v.add(p, "invalid constraint operator %q", c.Operand)
			continue
		}
		switch c.Operand {
		case structs.ConstraintDistinctHosts:
			continue
		case structs.ConstraintDistinctProperty:
			if c.LTarget == "" {
				v.add(p, "distinct_property needs an attribute")
			}
			if c.RTarget != "" {
				if n, err := strconv.Atoi(c.RTarget); err != nil || n < 1 {
					v.add(p, "distinct_property value %q must be a positive count", c.RTarget)
				}
			}
			continue
		case structs.ConstraintIsSet, structs.ConstraintIsNotSet:
			if c.LTarget == "" {
				v.add(p, "%s needs an attribute", c.Operand)
			}
			continue
		}
		if c.LTarget == "" {
			v.add(p, "missing constraint attribute")
		}
		if c.RTarget == "" {
			v.add(p, "missing constraint value for operator %q", c.Operand)
		}
		if c.Operand == structs.ConstraintRegex && !strings.Contains(c.RTarget, "${") {
			if _, err := regexp.Compile(c.RTarget); err != nil {
				v.add(p, "invalid regexp %q: %v", c.RTarget, err)
			}
		}
	}
}

func (v *validator) affinities(path string, as []*structs.Affinity) {
	for i, a := range as {
		p := joinPath(path, fmt.Sprintf("affinity[%d]", i))
		if a == nil {
			v.add(p, "affinity is null")
			continue
		}
		if !contains(validOperands, a.Operand) || a.Operand == structs.ConstraintDistinctHosts ||
			a.Operand == structs.ConstraintDistinctProperty || a.Operand == structs.ConstraintIsSet ||
			a.Operand == structs.ConstraintIsNotSet {
			v.add(p, "invalid affinity operator %q", a.Operand)
		}
		if a.LTarget == "" {
			v.add(p, "missing affinity attribute")
		}
		if a.RTarget == "" {
			v.add(p, "missing affinity value")
		}
		if a.Weight == 0 || a.Weight < -100 || a.Weight > 100 {
			v.add(p, "affinity weight %d must be non-zero and between -100 and 100", a.Weight)
		}
	}
}

func (v *validator) spreads(path string, ss []*structs.Spread) {
	for i, s := range ss {
		p := joinPath(path, fmt.Sprintf("spread[%d]", i))
		if s == nil {
			v.add(p, "spread is null")
			continue
		}
		if s.Attribute == "" {
			v.add(p, "missing spread attribute")
		}
		if s.Weight < 0 || s.Weight > 100 {
			v.add(p, "spread weight %d must be between 0 and 100", s.Weight)
		}
		sum := 0
		seen := map[string]bool{}
		for _, t := range s.SpreadTarget {
			if t == nil {
				continue
			}
			if seen[t.Value] {
				v.add(p, "duplicate spread target %q", t.Value)
			}
			seen[t.Value] = true
			if t.Percent > 100 {
				v.add(p, "spread target %q percent %d must be at most 100", t.Value, t.Percent)
			}
			sum += int(t.Percent)
		}
		if sum > 100 {
			v.add(p, "spread target percentages add up to %d, more than 100", sum)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// escapesDir reports whether a relative path leaves its base directory.
func escapesDir(p string) bool {
	if filepath.IsAbs(p) {
		return false
	}
	clean := filepath.Clean(p)
	return clean == ".." || strings.HasPrefix(clean, "../")
}
