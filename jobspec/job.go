package jobspec

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/orch-project/orch/structs"
)

var jobSchema = schema(
	[]string{"name", "type", "priority", "region", "namespace", "datacenters", "node_pool", "all_at_once", "id"},
	"constraint", "affinity", "spread", "update", "migrate", "periodic", "parameterized", "reschedule",
	"group:name",
	// Recognised so their use gets a clear "unsupported" error with position.
	"vault", "consul", "identity", "multiregion", "ui",
)

func (d *decoder) decodeJob(block *hcl.Block) *structs.Job {
	job := &structs.Job{ID: block.Labels[0], Name: block.Labels[0]}
	c := d.content(block.Body, jobSchema, "meta")
	d.unsupported(c, "vault", "consul", "identity", "multiregion", "ui")
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
	for _, b := range c.Blocks.OfType("group") {
		job.TaskGroups = append(job.TaskGroups, d.decodeGroup(b))
	}
	return job
}
