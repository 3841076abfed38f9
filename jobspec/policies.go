package jobspec

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/orch-project/orch/structs"
)

var updateSchema = schema([]string{"stagger", "max_parallel", "health_check", "min_healthy_time",
	"healthy_deadline", "progress_deadline", "canary", "auto_revert", "auto_promote"})

func (d *decoder) decodeUpdate(b *hcl.Block) *structs.UpdateStrategy {
	a := d.attrs(d.content(b.Body, updateSchema))
	u := &structs.UpdateStrategy{}
	d.at(u, b.DefRange)
	a.duration("stagger", &u.Stagger)
	a.integer("max_parallel", &u.MaxParallel)
	a.str("health_check", &u.HealthCheck)
	a.duration("min_healthy_time", &u.MinHealthyTime)
	a.duration("healthy_deadline", &u.HealthyDeadline)
	a.duration("progress_deadline", &u.ProgressDeadline)
	a.integer("canary", &u.Canary)
	a.boolean("auto_revert", &u.AutoRevert)
	a.boolean("auto_promote", &u.AutoPromote)
	return u
}

var migrateSchema = schema([]string{"max_parallel", "health_check", "min_healthy_time", "healthy_deadline"})

func (d *decoder) decodeMigrate(b *hcl.Block) *structs.MigrateStrategy {
	a := d.attrs(d.content(b.Body, migrateSchema))
	m := &structs.MigrateStrategy{}
	d.at(m, b.DefRange)
	a.integer("max_parallel", &m.MaxParallel)
	a.str("health_check", &m.HealthCheck)
	a.duration("min_healthy_time", &m.MinHealthyTime)
	a.duration("healthy_deadline", &m.HealthyDeadline)
	return m
}

var periodicSchema = schema([]string{"cron", "crons", "prohibit_overlap", "time_zone", "enabled"})

func (d *decoder) decodePeriodic(b *hcl.Block) *structs.PeriodicConfig {
	c := d.content(b.Body, periodicSchema)
	a := d.attrs(c)
	p := &structs.PeriodicConfig{Enabled: true, SpecType: "cron"}
	d.at(p, b.DefRange)
	a.str("cron", &p.Spec)
	a.strList("crons", &p.Specs)
	a.boolean("prohibit_overlap", &p.ProhibitOverlap)
	a.str("time_zone", &p.TimeZone)
	a.boolean("enabled", &p.Enabled)
	if p.Spec != "" && len(p.Specs) > 0 {
		d.errorf(c.Attributes["crons"].NameRange, "Conflicting arguments", "Only one of \"cron\" and \"crons\" may be set.")
	}
	if p.Spec == "" && len(p.Specs) == 0 {
		d.errorf(b.DefRange, "Missing cron expression", "A periodic block needs \"crons\" (or the older \"cron\").")
	}
	return p
}

var parameterizedSchema = schema([]string{"payload", "meta_required", "meta_optional"})

func (d *decoder) decodeParameterized(b *hcl.Block) *structs.ParameterizedJobConfig {
	a := d.attrs(d.content(b.Body, parameterizedSchema))
	p := &structs.ParameterizedJobConfig{}
	d.at(p, b.DefRange)
	a.str("payload", &p.Payload)
	a.strList("meta_required", &p.MetaRequired)
	a.strList("meta_optional", &p.MetaOptional)
	return p
}

var rescheduleSchema = schema([]string{"attempts", "interval", "delay", "delay_function", "max_delay", "unlimited"})

func (d *decoder) decodeReschedule(b *hcl.Block) *structs.ReschedulePolicy {
	a := d.attrs(d.content(b.Body, rescheduleSchema))
	r := &structs.ReschedulePolicy{}
	d.at(r, b.DefRange)
	a.integer("attempts", &r.Attempts)
	a.duration("interval", &r.Interval)
	a.duration("delay", &r.Delay)
	a.str("delay_function", &r.DelayFunction)
	a.duration("max_delay", &r.MaxDelay)
	if !a.boolean("unlimited", &r.Unlimited) && (a.has("attempts") || a.has("interval")) {
		// A policy that sets attempts or interval is a limited one, even
		// where the job type's default is unlimited.
		d.mark(&r.Unlimited, hcl.Range{})
	}
	return r
}

var restartSchema = schema([]string{"attempts", "interval", "delay", "mode", "render_templates"})

func (d *decoder) decodeRestart(b *hcl.Block) *structs.RestartPolicy {
	a := d.attrs(d.content(b.Body, restartSchema))
	r := &structs.RestartPolicy{}
	d.at(r, b.DefRange)
	a.integer("attempts", &r.Attempts)
	a.duration("interval", &r.Interval)
	a.duration("delay", &r.Delay)
	a.str("mode", &r.Mode)
	a.boolean("render_templates", &r.RenderTemplates)
	return r
}

var ephemeralDiskSchema = schema([]string{"sticky", "migrate", "size"})

func (d *decoder) decodeEphemeralDisk(b *hcl.Block) *structs.EphemeralDisk {
	a := d.attrs(d.content(b.Body, ephemeralDiskSchema))
	e := &structs.EphemeralDisk{}
	d.at(e, b.DefRange)
	a.boolean("sticky", &e.Sticky)
	a.boolean("migrate", &e.Migrate)
	a.integer("size", &e.SizeMB)
	return e
}

var disconnectSchema = schema([]string{"lost_after", "replace", "reconcile", "stop_on_client_after"})

func (d *decoder) decodeDisconnect(b *hcl.Block) *structs.DisconnectStrategy {
	a := d.attrs(d.content(b.Body, disconnectSchema))
	s := &structs.DisconnectStrategy{}
	d.at(s, b.DefRange)
	a.duration("lost_after", &s.LostAfter)
	a.boolPtr("replace", &s.Replace)
	a.str("reconcile", &s.Reconcile)
	a.durationPtr("stop_on_client_after", &s.StopOnClientAfter)
	return s
}
