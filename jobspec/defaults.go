package jobspec

import (
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/orch-project/orch/structs"
)

// This file is the one place orch's job defaults live. They follow Nomad's
// documented defaults:
//
//	job        Region "global", Namespace "default", Name = ID, Priority 50,
//	           Type "service", NodePool "default", Datacenters ["*"]
//	group      Count 1; EphemeralDisk 300 MB
//	restart    service/system: 2 attempts in 30m, delay 15s, mode "fail"
//	           batch/sysbatch: 3 attempts in 24h, delay 15s, mode "fail"
//	reschedule service: unlimited, delay 30s, "exponential", max delay 1h
//	           batch: 1 attempt in 24h, delay 5s, "constant"
//	           system/sysbatch: none
//	update     service/system: max_parallel 1, health_check "checks",
//	           min_healthy_time 10s, healthy_deadline 5m,
//	           progress_deadline 10m, stagger 30s
//	migrate    service: max_parallel 1, "checks", 10s, 5m
//	task       CPU 100 MHz (unless cores is set), memory 300 MB,
//	           kill_timeout 5s, logs 10 files x 10 MB
//	affinity/spread weight 50; template change_mode "restart", splay 5s,
//	perms "0644", delimiters {{ }}; artifact mode "any", destination
//	"local/"; volume_mount propagation "private"; service address_mode
//	"auto", on_update "require_healthy", provider "nomad" (orch has no
//	Consul); check_restart grace 1s; disconnect replace true, reconcile
//	"best_score".
//
// Job- and group-level policies are merged the way Nomad merges them: the
// group's update/reschedule/migrate override the job's field by field, and a
// task's restart overrides its group's.
//
// Telling "not set" from "set to zero": for parsed HCL the decoder records
// every field the file set, so `attempts = 0` is kept. For jobs that arrive
// as JSON nothing is recorded; there a zero value is replaced by the default
// only where zero is not a meaningful setting (e.g. memory, healthy
// deadline), while zeros that mean something (restart attempts, count,
// max_parallel, delays) are kept.

// Default values not already exported by package structs.
const (
	defaultKillTimeout   = 5 * time.Second
	defaultLogMaxFiles   = 10
	defaultLogFileSizeMB = 10
	defaultDiskMB        = 300
	defaultWeight        = 50
	defaultCheckGrace    = time.Second
)

// DefaultRestartPolicy returns the restart policy Nomad applies to a job type.
func DefaultRestartPolicy(jobType string) *structs.RestartPolicy {
	switch jobType {
	case structs.JobTypeBatch, structs.JobTypeSysBatch:
		return &structs.RestartPolicy{Attempts: 3, Interval: 24 * time.Hour, Delay: 15 * time.Second, Mode: structs.RestartPolicyModeFail}
	default:
		return &structs.RestartPolicy{Attempts: 2, Interval: 30 * time.Minute, Delay: 15 * time.Second, Mode: structs.RestartPolicyModeFail}
	}
}

// DefaultReschedulePolicy returns the reschedule policy for a job type; nil
// for system and sysbatch jobs, which are never rescheduled.
func DefaultReschedulePolicy(jobType string) *structs.ReschedulePolicy {
	switch jobType {
	case structs.JobTypeService:
		return &structs.ReschedulePolicy{Delay: 30 * time.Second, DelayFunction: "exponential", MaxDelay: time.Hour, Unlimited: true}
	case structs.JobTypeBatch:
		return &structs.ReschedulePolicy{Attempts: 1, Interval: 24 * time.Hour, Delay: 5 * time.Second, DelayFunction: "constant"}
	}
	return nil
}

// DefaultUpdateStrategy returns Nomad's rolling-update defaults.
func DefaultUpdateStrategy() *structs.UpdateStrategy {
	return &structs.UpdateStrategy{
		Stagger: 30 * time.Second, MaxParallel: 1, HealthCheck: "checks", MinHealthyTime: 10 * time.Second,
		HealthyDeadline: 5 * time.Minute, ProgressDeadline: 10 * time.Minute,
	}
}

// DefaultMigrateStrategy returns Nomad's drain-migration defaults.
func DefaultMigrateStrategy() *structs.MigrateStrategy {
	return &structs.MigrateStrategy{MaxParallel: 1, HealthCheck: "checks", MinHealthyTime: 10 * time.Second, HealthyDeadline: 5 * time.Minute}
}

// Canonicalize fills every unset field of job with its default, in place.
// It is idempotent, and safe on jobs decoded from API JSON.
func Canonicalize(job *structs.Job) { canonicalize(job, nil) }

// canon knows which fields were set explicitly (nil: infer from zero
// values). fromJSON says the record comes from an API document, where a
// non-null zero may also come from a client whose types cannot say null
// (orch's own Go client sends structs.Job as is).
type canon struct {
	explicit map[any]bool
	fromJSON bool
}

// set reports whether the field at ptr counts as given. From HCL a field
// is given when the file sets it. From JSON a null or absent field is not
// given (Nomad's null-means-default), and a zero counts as given only
// where zero is a valid setting. Without any record, only the latter rule
// applies.
func (c canon) set(ptr any, isZero, zeroValid bool) bool {
	switch {
	case c.explicit == nil:
		return !isZero || zeroValid
	case c.fromJSON:
		return c.explicit[ptr] && (!isZero || zeroValid)
	}
	return c.explicit[ptr]
}

func (c canon) int(p *int, def int, zeroValid bool) {
	if !c.set(p, *p == 0, zeroValid) {
		*p = def
	}
}

func (c canon) dur(p *time.Duration, def time.Duration, zeroValid bool) {
	if !c.set(p, *p == 0, zeroValid) {
		*p = def
	}
}

func (c canon) str(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func (c canon) boolean(p *bool, def bool) {
	if !c.set(p, !*p, true) {
		*p = def
	}
}

// pick overlays child fields that were given onto dst (a copy of the parent).
func pickInt(c canon, dst *int, child *int, zeroValid bool) {
	if c.set(child, *child == 0, zeroValid) {
		*dst = *child
	}
}

func pickDur(c canon, dst *time.Duration, child *time.Duration, zeroValid bool) {
	if c.set(child, *child == 0, zeroValid) {
		*dst = *child
	}
}

func pickStr(dst *string, child string) {
	if child != "" {
		*dst = child
	}
}

func pickBool(c canon, dst *bool, child *bool) {
	if c.explicit != nil {
		if c.explicit[child] {
			*dst = *child
		}
		return
	}
	// Without a record, only a true can be told apart from "unset".
	if *child {
		*dst = true
	}
}

func canonicalize(job *structs.Job, explicit map[any]bool) {
	canonicalizeWith(job, canon{explicit: explicit})
}

func canonicalizeWith(job *structs.Job, c canon) {
	if job == nil {
		return
	}
	c.str(&job.Region, structs.DefaultRegion)
	c.str(&job.Namespace, structs.DefaultNamespace)
	c.str(&job.Name, job.ID)
	c.str(&job.Type, structs.JobTypeService)
	c.str(&job.NodePool, structs.DefaultNodePool)
	c.int(&job.Priority, structs.DefaultJobPriority, false)
	if len(job.Datacenters) == 0 {
		job.Datacenters = []string{"*"}
	}
	c.constraints(job.Constraints)
	c.affinities(job.Affinities)
	c.spreads(job.Spreads)
	if p := job.Periodic; p != nil {
		// A periodic block is enabled unless it says otherwise (nomad/api
		// sends a null Enabled when the caller left it out).
		c.boolean(&p.Enabled, true)
		c.str(&p.SpecType, "cron")
		c.str(&p.TimeZone, "UTC")
	}
	if p := job.ParameterizedJob; p != nil {
		c.str(&p.Payload, "optional")
	}

	isService := job.Type == structs.JobTypeService
	if job.Update != nil {
		c.fillUpdate(job.Update, DefaultUpdateStrategy())
	} else if isService || job.Type == structs.JobTypeSystem {
		job.Update = DefaultUpdateStrategy()
	}
	if job.Reschedule != nil {
		if def := DefaultReschedulePolicy(job.Type); def != nil {
			c.fillReschedule(job.Reschedule, def)
		}
	}
	if job.Migrate != nil {
		c.fillMigrate(job.Migrate, DefaultMigrateStrategy())
	}

	for _, tg := range job.TaskGroups {
		if tg != nil {
			c.group(job, tg)
		}
	}
}

func (c canon) group(job *structs.Job, tg *structs.TaskGroup) {
	if !c.set(&tg.Count, tg.Count == 0, true) && tg.Scaling != nil && tg.Scaling.Min != nil {
		// Without a count, a group with a scaling policy starts at its
		// minimum, as in Nomad.
		tg.Count = int(*tg.Scaling.Min)
	} else {
		c.int(&tg.Count, 1, true)
	}
	canonicalizeScaling(tg)
	if tg.EphemeralDisk == nil {
		tg.EphemeralDisk = &structs.EphemeralDisk{}
	}
	// The legacy task-level resources { disk } asks for scratch space the
	// group's tasks share: without an explicit ephemeral_disk size, the
	// tasks' disks add up to it (older Nomad jobs still say disk = N).
	legacyDisk := 0
	for _, t := range tg.Tasks {
		if t != nil && t.Resources != nil && t.Resources.DiskMB > 0 {
			legacyDisk += t.Resources.DiskMB
		}
	}
	diskDefault := defaultDiskMB
	if legacyDisk > 0 {
		diskDefault = legacyDisk
	}
	c.int(&tg.EphemeralDisk.SizeMB, diskDefault, false)

	// update: job's (already complete) with the group's fields on top.
	switch {
	case job.Update != nil && tg.Update != nil:
		tg.Update = c.mergeUpdate(job.Update, tg.Update)
	case job.Update != nil:
		u := *job.Update
		tg.Update = &u
	case tg.Update != nil:
		c.fillUpdate(tg.Update, DefaultUpdateStrategy())
	}

	// reschedule: type default <- job's <- group's.
	if def := DefaultReschedulePolicy(job.Type); def != nil {
		base := def
		if job.Reschedule != nil {
			r := *job.Reschedule
			base = &r
		}
		if tg.ReschedulePolicy != nil {
			tg.ReschedulePolicy = c.mergeReschedule(base, tg.ReschedulePolicy)
		} else {
			tg.ReschedulePolicy = base
		}
	} else if tg.ReschedulePolicy != nil {
		c.fillReschedule(tg.ReschedulePolicy, &structs.ReschedulePolicy{})
	}

	// migrate: only service jobs migrate by default.
	switch {
	case job.Migrate != nil && tg.Migrate != nil:
		tg.Migrate = c.mergeMigrate(job.Migrate, tg.Migrate)
	case job.Migrate != nil:
		m := *job.Migrate
		tg.Migrate = &m
	case tg.Migrate != nil:
		c.fillMigrate(tg.Migrate, DefaultMigrateStrategy())
	case job.Type == structs.JobTypeService:
		tg.Migrate = DefaultMigrateStrategy()
	}

	// restart: type default <- group's; each task: group's <- task's.
	def := DefaultRestartPolicy(job.Type)
	if tg.RestartPolicy != nil {
		tg.RestartPolicy = c.mergeRestart(def, tg.RestartPolicy)
	} else {
		tg.RestartPolicy = def
	}

	if tg.Disconnect != nil {
		if tg.Disconnect.Replace == nil {
			t := true
			tg.Disconnect.Replace = &t
		}
		c.str(&tg.Disconnect.Reconcile, "best_score")
	}
	foldTaskNetworks(tg)
	for _, n := range tg.Networks {
		if n != nil {
			c.str(&n.Mode, "host")
		}
	}
	c.constraints(tg.Constraints)
	c.affinities(tg.Affinities)
	c.spreads(tg.Spreads)
	c.services(tg.Services, job.Name+"-"+tg.Name)
	for _, t := range tg.Tasks {
		if t != nil {
			c.task(job, tg, t)
		}
	}
}

func (c canon) task(job *structs.Job, tg *structs.TaskGroup, t *structs.Task) {
	if t.Resources == nil {
		t.Resources = &structs.Resources{}
	}
	r := t.Resources
	if r.Cores == 0 {
		c.int(&r.CPU, structs.DefaultTaskCPU, false)
	}
	c.int(&r.MemoryMB, structs.DefaultTaskMemoryMB, false)
	for _, dev := range r.Devices {
		if dev == nil {
			continue
		}
		if dev.Count == 0 {
			dev.Count = 1
		}
		c.constraints(dev.Constraints)
		c.affinities(dev.Affinities)
	}
	c.dur(&t.KillTimeout, defaultKillTimeout, false)
	if t.LogConfig == nil {
		t.LogConfig = &structs.LogConfig{}
	}
	if l := t.LogConfig; l.Enabled != nil {
		// Nomad's older spelling: enabled = false disables logs.
		if !*l.Enabled {
			l.Disabled = true
		}
		l.Enabled = nil
	}
	c.int(&t.LogConfig.MaxFiles, defaultLogMaxFiles, false)
	c.int(&t.LogConfig.MaxFileSizeMB, defaultLogFileSizeMB, false)
	for _, a := range t.Artifacts {
		if a == nil {
			continue
		}
		c.str(&a.GetterMode, "any")
		if a.RelativeDest == "" {
			if a.GetterMode == "file" {
				a.RelativeDest = filepath.Join("local", path.Base(a.GetterSource))
			} else {
				a.RelativeDest = "local/"
			}
		}
	}
	for _, tmpl := range t.Templates {
		if tmpl == nil {
			continue
		}
		c.str(&tmpl.ChangeMode, "restart")
		if tmpl.ChangeMode == "signal" {
			c.str(&tmpl.ChangeSignal, "SIGHUP")
		}
		tmpl.ChangeSignal = strings.ToUpper(tmpl.ChangeSignal)
		c.dur(&tmpl.Splay, 5*time.Second, false)
		c.str(&tmpl.Perms, "0644")
		c.str(&tmpl.LeftDelim, "{{")
		c.str(&tmpl.RightDelim, "}}")
	}
	for _, vm := range t.VolumeMounts {
		if vm == nil {
			continue
		}
		c.str(&vm.PropagationMode, "private")
	}
	if l := t.Lifecycle; l != nil && l.Hook == "" && !l.Sidecar {
		t.Lifecycle = nil
	}
	if t.RestartPolicy != nil {
		t.RestartPolicy = c.mergeRestart(tg.RestartPolicy, t.RestartPolicy)
	} else {
		rp := *tg.RestartPolicy
		t.RestartPolicy = &rp
	}
	c.constraints(t.Constraints)
	c.affinities(t.Affinities)
	c.services(t.Services, job.Name+"-"+tg.Name+"-"+t.Name)
}

func (c canon) services(svcs []*structs.Service, defaultName string) {
	for _, s := range svcs {
		if s == nil {
			continue
		}
		c.str(&s.Name, defaultName)
		c.str(&s.AddressMode, "auto")
		c.str(&s.OnUpdate, "require_healthy")
		c.str(&s.Provider, "nomad")
		for _, chk := range s.Checks {
			if chk == nil {
				continue
			}
			if s.CheckRestart != nil && chk.CheckRestart == nil {
				// A service-level check_restart applies to every check
				// without its own (the HCL path merges field by field).
				cr := *s.CheckRestart
				chk.CheckRestart = &cr
			}
			c.str(&chk.OnUpdate, s.OnUpdate)
			if cr := chk.CheckRestart; cr != nil {
				c.dur(&cr.Grace, defaultCheckGrace, false)
			}
			chk.SuccessBeforePassing = max(chk.SuccessBeforePassing, 0)
			chk.FailuresBeforeCritical = max(chk.FailuresBeforeCritical, 0)
		}
	}
}

func (c canon) constraints(cs []*structs.Constraint) {
	for _, con := range cs {
		if con == nil {
			continue
		}
		c.str(&con.Operand, structs.ConstraintEqual)
	}
}

func (c canon) affinities(as []*structs.Affinity) {
	for _, a := range as {
		if a == nil {
			continue
		}
		c.str(&a.Operand, structs.ConstraintEqual)
		if !c.set(&a.Weight, a.Weight == 0, false) {
			a.Weight = defaultWeight
		}
	}
}

func (c canon) spreads(ss []*structs.Spread) {
	for _, s := range ss {
		if s == nil {
			continue
		}
		if !c.set(&s.Weight, s.Weight == 0, false) {
			s.Weight = defaultWeight
		}
	}
}

func (c canon) fillUpdate(u, def *structs.UpdateStrategy) {
	c.dur(&u.Stagger, def.Stagger, false)
	c.int(&u.MaxParallel, def.MaxParallel, true)
	c.str(&u.HealthCheck, def.HealthCheck)
	c.dur(&u.MinHealthyTime, def.MinHealthyTime, true)
	c.dur(&u.HealthyDeadline, def.HealthyDeadline, false)
	c.dur(&u.ProgressDeadline, def.ProgressDeadline, true)
	c.int(&u.Canary, def.Canary, true)
	c.boolean(&u.AutoRevert, def.AutoRevert)
	c.boolean(&u.AutoPromote, def.AutoPromote)
}

func (c canon) mergeUpdate(parent, child *structs.UpdateStrategy) *structs.UpdateStrategy {
	out := *parent
	pickDur(c, &out.Stagger, &child.Stagger, false)
	pickInt(c, &out.MaxParallel, &child.MaxParallel, true)
	pickStr(&out.HealthCheck, child.HealthCheck)
	pickDur(c, &out.MinHealthyTime, &child.MinHealthyTime, true)
	pickDur(c, &out.HealthyDeadline, &child.HealthyDeadline, false)
	pickDur(c, &out.ProgressDeadline, &child.ProgressDeadline, true)
	pickInt(c, &out.Canary, &child.Canary, false)
	pickBool(c, &out.AutoRevert, &child.AutoRevert)
	pickBool(c, &out.AutoPromote, &child.AutoPromote)
	return &out
}

func (c canon) fillMigrate(m, def *structs.MigrateStrategy) {
	c.int(&m.MaxParallel, def.MaxParallel, true)
	c.str(&m.HealthCheck, def.HealthCheck)
	c.dur(&m.MinHealthyTime, def.MinHealthyTime, true)
	c.dur(&m.HealthyDeadline, def.HealthyDeadline, false)
}

func (c canon) mergeMigrate(parent, child *structs.MigrateStrategy) *structs.MigrateStrategy {
	out := *parent
	pickInt(c, &out.MaxParallel, &child.MaxParallel, true)
	pickStr(&out.HealthCheck, child.HealthCheck)
	pickDur(c, &out.MinHealthyTime, &child.MinHealthyTime, true)
	pickDur(c, &out.HealthyDeadline, &child.HealthyDeadline, false)
	return &out
}

func (c canon) fillReschedule(r, def *structs.ReschedulePolicy) {
	c.int(&r.Attempts, def.Attempts, true)
	c.dur(&r.Interval, def.Interval, true)
	c.dur(&r.Delay, def.Delay, false)
	c.str(&r.DelayFunction, def.DelayFunction)
	c.dur(&r.MaxDelay, def.MaxDelay, true)
	c.boolean(&r.Unlimited, def.Unlimited)
}

func (c canon) mergeReschedule(parent, child *structs.ReschedulePolicy) *structs.ReschedulePolicy {
	out := *parent
	pickInt(c, &out.Attempts, &child.Attempts, true)
	pickDur(c, &out.Interval, &child.Interval, true)
	pickDur(c, &out.Delay, &child.Delay, false)
	pickStr(&out.DelayFunction, child.DelayFunction)
	pickDur(c, &out.MaxDelay, &child.MaxDelay, true)
	if c.explicit == nil {
		// Without a record of what was set, the child's Unlimited is
		// authoritative.
		out.Unlimited = child.Unlimited
	} else {
		pickBool(c, &out.Unlimited, &child.Unlimited)
	}
	return &out
}

func (c canon) mergeRestart(parent, child *structs.RestartPolicy) *structs.RestartPolicy {
	out := *parent
	pickInt(c, &out.Attempts, &child.Attempts, true)
	pickDur(c, &out.Interval, &child.Interval, false)
	pickDur(c, &out.Delay, &child.Delay, true)
	pickStr(&out.Mode, child.Mode)
	pickBool(c, &out.RenderTemplates, &child.RenderTemplates)
	return &out
}
