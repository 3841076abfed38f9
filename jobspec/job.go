package jobspec

import (
	"encoding/json"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-project/orch/structs"
)

var jobSchema = schema(
	[]string{"name", "type", "priority", "region", "namespace", "datacenters", "node_pool", "all_at_once", "id"},
	"constraint", "affinity", "spread", "update", "migrate", "periodic", "parameterized", "reschedule",
	"group:name", "task:name", "vault", "consul", "multiregion", "ui",
)

func (d *decoder) decodeJob(block *hcl.Block) *structs.Job {
	job := &structs.Job{ID: block.Labels[0], Name: block.Labels[0]}
	d.at(job, block.DefRange)
	c := d.content(block.Body, jobSchema, "meta")
	if attr := c.Attributes["id"]; attr != nil {
		d.errorf(attr.NameRange, "Unsupported argument", "The job ID is the block label: job %q { ... }.", job.ID)
	}
	a := d.attrs(c)
	a.str("name", &job.Name)
	a.str("type", &job.Type)
	a.integer("priority", &job.Priority)
	a.str("region", &job.Region)
	a.str("namespace", &job.Namespace)
	a.strList("datacenters", &job.Datacenters)
	a.str("node_pool", &job.NodePool)
	a.boolean("all_at_once", &job.AllAtOnce)
	d.strMap(c, "meta", &job.Meta)

	job.Constraints = d.constraints(c)
	job.Affinities = d.affinities(c)
	job.Spreads = d.spreads(c)
	if b := d.atMostOne(c, "update"); b != nil {
		job.Update = d.decodeUpdate(b)
	}
	if b := d.atMostOne(c, "migrate"); b != nil {
		job.Migrate = d.decodeMigrate(b)
	}
	if b := d.atMostOne(c, "periodic"); b != nil {
		job.Periodic = d.decodePeriodic(b)
	}
	if b := d.atMostOne(c, "parameterized"); b != nil {
		job.ParameterizedJob = d.decodeParameterized(b)
	}
	if b := d.atMostOne(c, "reschedule"); b != nil {
		job.Reschedule = d.decodeReschedule(b)
	}
	if b := d.atMostOne(c, "multiregion"); b != nil {
		job.Multiregion = d.opaque(b)
	}
	if b := d.atMostOne(c, "ui"); b != nil {
		job.UI = d.decodeUI(b)
	}
	for _, b := range c.Blocks.OfType("group") {
		job.TaskGroups = append(job.TaskGroups, d.decodeGroup(b))
	}
	// A task directly under the job is a group of its own name holding
	// just that task, as in Nomad.
	for _, b := range c.Blocks.OfType("task") {
		t := d.decodeTask(b)
		tg := &structs.TaskGroup{Name: t.Name, Tasks: []*structs.Task{t}}
		d.at(tg, b.DefRange)
		job.TaskGroups = append(job.TaskGroups, tg)
	}
	// A job-level vault or consul block applies to every task (group)
	// that has none, as in Nomad.
	if b := d.atMostOne(c, "vault"); b != nil {
		v := d.opaque(b)
		for _, tg := range job.TaskGroups {
			for _, t := range tg.Tasks {
				if t.Vault == nil {
					t.Vault = v
				}
			}
		}
	}
	if b := d.atMostOne(c, "consul"); b != nil {
		v := d.opaque(b)
		for _, tg := range job.TaskGroups {
			if tg.Consul == nil {
				tg.Consul = v
			}
		}
	}
	return job
}

var (
	uiSchema     = schema([]string{"description"}, "link")
	uiLinkSchema = schema([]string{"label", "url"})
)

func (d *decoder) decodeUI(b *hcl.Block) *structs.JobUIConfig {
	c := d.content(b.Body, uiSchema)
	ui := &structs.JobUIConfig{}
	d.at(ui, b.DefRange)
	d.attrs(c).str("description", &ui.Description)
	for _, lb := range c.Blocks.OfType("link") {
		l := &structs.JobUILink{}
		d.at(l, lb.DefRange)
		la := d.attrs(d.content(lb.Body, uiLinkSchema))
		la.str("label", &l.Label)
		la.str("url", &l.URL)
		ui.Links = append(ui.Links, l)
	}
	return ui
}

// opaque keeps a block orch has no model for (Vault, Consul, Connect,
// CSI...) as the JSON its body converts to, so the field-state table sees
// it and refuses it with its position.
func (d *decoder) opaque(b *hcl.Block) *structs.Opaque {
	m := d.genericBody(b.Body)
	for i := len(b.Labels) - 1; i >= 0; i-- {
		m = map[string]any{"Name": b.Labels[i], "Body": m}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		raw = []byte("{}")
	}
	o := structs.Opaque(raw)
	d.at(&o, b.DefRange)
	return &o
}
