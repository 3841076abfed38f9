package jobspec

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/orch-project/orch/structs"
)

var groupSchema = schema(
	[]string{"count", "shutdown_delay", "stop_after_client_disconnect", "max_client_disconnect", "prevent_reschedule_on_lost",
		"max_run_duration"},
	"constraint", "affinity", "spread", "network", "service", "restart", "reschedule", "update", "migrate",
	"ephemeral_disk", "volume:name", "disconnect", "task:name", "vault", "consul", "scaling",
)

func (d *decoder) decodeGroup(b *hcl.Block) *structs.TaskGroup {
	tg := &structs.TaskGroup{Name: b.Labels[0]}
	d.at(tg, b.DefRange)
	c := d.content(b.Body, groupSchema, "meta")
	a := d.attrs(c)
	a.integer("count", &tg.Count)
	a.durationPtr("shutdown_delay", &tg.ShutdownDelay)
	a.durationPtr("stop_after_client_disconnect", &tg.StopAfterClientDisconnect)
	a.durationPtr("max_client_disconnect", &tg.MaxClientDisconnect)
	a.boolean("prevent_reschedule_on_lost", &tg.PreventRescheduleOnLost)
	a.durationPtr("max_run_duration", &tg.MaxRunDuration)
	d.strMap(c, "meta", &tg.Meta)

	tg.Constraints = d.constraints(c)
	tg.Affinities = d.affinities(c)
	tg.Spreads = d.spreads(c)
	for _, nb := range c.Blocks.OfType("network") {
		tg.Networks = append(tg.Networks, d.decodeNetwork(nb))
	}
	tg.Services = d.services(c)
	if rb := d.atMostOne(c, "restart"); rb != nil {
		tg.RestartPolicy = d.decodeRestart(rb)
	}
	if rb := d.atMostOne(c, "reschedule"); rb != nil {
		tg.ReschedulePolicy = d.decodeReschedule(rb)
	}
	if ub := d.atMostOne(c, "update"); ub != nil {
		tg.Update = d.decodeUpdate(ub)
	}
	if mb := d.atMostOne(c, "migrate"); mb != nil {
		tg.Migrate = d.decodeMigrate(mb)
	}
	if eb := d.atMostOne(c, "ephemeral_disk"); eb != nil {
		tg.EphemeralDisk = d.decodeEphemeralDisk(eb)
	}
	if db := d.atMostOne(c, "disconnect"); db != nil {
		tg.Disconnect = d.decodeDisconnect(db)
	}
	for _, vb := range c.Blocks.OfType("volume") {
		if tg.Volumes == nil {
			tg.Volumes = map[string]*structs.VolumeRequest{}
		}
		name := vb.Labels[0]
		if _, dup := tg.Volumes[name]; dup {
			d.errorf(vb.DefRange, "Duplicate volume block", "Volume %q is already defined in group %q.", name, tg.Name)
			continue
		}
		tg.Volumes[name] = d.decodeVolume(vb)
	}
	if sb := d.atMostOne(c, "scaling"); sb != nil {
		tg.Scaling = d.decodeScaling(sb, "")
	}
	if cb := d.atMostOne(c, "consul"); cb != nil {
		tg.Consul = d.opaque(cb)
	}
	for _, tb := range c.Blocks.OfType("task") {
		tg.Tasks = append(tg.Tasks, d.decodeTask(tb))
	}
	// A group-level vault block applies to every task without one.
	if vb := d.atMostOne(c, "vault"); vb != nil {
		v := d.opaque(vb)
		for _, t := range tg.Tasks {
			if t.Vault == nil {
				t.Vault = v
			}
		}
	}
	return tg
}

var scalingSchema = schema([]string{"min", "max", "enabled", "type"}, "policy")

// decodeScaling reads a group's `scaling {}` block (label "") or a task's
// `scaling "cpu"|"mem" {}` block. The policy body is kept as generic
// data: it belongs to the external autoscaler, as in Nomad.
func (d *decoder) decodeScaling(b *hcl.Block, label string) *structs.ScalingPolicy {
	c := d.content(b.Body, scalingSchema)
	a := d.attrs(c)
	p := &structs.ScalingPolicy{}
	d.at(p, b.DefRange)
	a.str("type", &p.Type)
	if label != "" && p.Type == "" {
		p.Type = "vertical_" + label
	}
	var n int
	if a.integer("min", &n) {
		v := int64(n)
		p.Min = &v
	}
	if a.integer("max", &n) {
		v := int64(n)
		p.Max = &v
	}
	a.boolPtr("enabled", &p.Enabled)
	if pb := d.atMostOne(c, "policy"); pb != nil {
		p.Policy = d.genericBody(pb.Body)
	}
	return p
}

var networkSchema = schema([]string{"mode", "hostname", "mbits"}, "port:label", "dns", "cni")
var portSchema = schema([]string{"static", "to", "host_network", "ignore_collision"})
var cniSchema = schema([]string{"args"})
var dnsSchema = schema([]string{"servers", "searches", "options"})

func (d *decoder) decodeNetwork(b *hcl.Block) *structs.NetworkResource {
	c := d.content(b.Body, networkSchema)
	a := d.attrs(c)
	n := &structs.NetworkResource{}
	d.at(n, b.DefRange)
	a.str("mode", &n.Mode)
	a.str("hostname", &n.Hostname)
	a.integer("mbits", &n.MBits)
	seen := map[string]hcl.Range{}
	// Ports are values in their slices: record their positions once the
	// slices stop growing.
	defer func() {
		for i := range n.ReservedPorts {
			d.at(&n.ReservedPorts[i], seen[n.ReservedPorts[i].Label])
		}
		for i := range n.DynamicPorts {
			d.at(&n.DynamicPorts[i], seen[n.DynamicPorts[i].Label])
		}
	}()
	for _, pb := range c.Blocks.OfType("port") {
		label := pb.Labels[0]
		if prev, dup := seen[label]; dup {
			d.errorf(pb.DefRange, "Duplicate port", "Port %q is already defined at %s.", label, rangeStr(prev))
			continue
		}
		seen[label] = pb.DefRange
		pa := d.attrs(d.content(pb.Body, portSchema))
		p := structs.Port{Label: label}
		pa.integer("static", &p.Value)
		pa.integer("to", &p.To)
		pa.str("host_network", &p.HostNetwork)
		pa.boolean("ignore_collision", &p.IgnoreCollision)
		if pa.has("static") {
			n.ReservedPorts = append(n.ReservedPorts, p)
		} else {
			n.DynamicPorts = append(n.DynamicPorts, p)
		}
	}
	if db := d.atMostOne(c, "dns"); db != nil {
		da := d.attrs(d.content(db.Body, dnsSchema))
		n.DNS = &structs.DNSConfig{}
		d.at(n.DNS, db.DefRange)
		da.strList("servers", &n.DNS.Servers)
		da.strList("searches", &n.DNS.Searches)
		da.strList("options", &n.DNS.Options)
	}
	if cb := d.atMostOne(c, "cni"); cb != nil {
		cc := d.content(cb.Body, cniSchema)
		n.CNI = &structs.CNIConfig{}
		d.at(n.CNI, cb.DefRange)
		d.strMap(cc, "args", &n.CNI.Args)
	}
	return n
}

var volumeSchema = schema([]string{"type", "source", "read_only", "access_mode", "attachment_mode", "per_alloc", "sticky"}, "mount_options")
var mountOptionsSchema = schema([]string{"fs_type", "mount_flags"})

func (d *decoder) decodeVolume(b *hcl.Block) *structs.VolumeRequest {
	c := d.content(b.Body, volumeSchema)
	a := d.attrs(c)
	v := &structs.VolumeRequest{Name: b.Labels[0]}
	d.at(v, b.DefRange)
	a.str("type", &v.Type)
	a.str("source", &v.Source)
	a.boolean("read_only", &v.ReadOnly)
	a.str("access_mode", &v.AccessMode)
	a.str("attachment_mode", &v.AttachmentMode)
	a.boolean("per_alloc", &v.PerAlloc)
	a.boolean("sticky", &v.Sticky)
	if mb := d.atMostOne(c, "mount_options"); mb != nil {
		ma := d.attrs(d.content(mb.Body, mountOptionsSchema))
		v.MountOptions = &structs.CSIMountOptions{}
		d.at(v.MountOptions, mb.DefRange)
		ma.str("fs_type", &v.MountOptions.FSType)
		ma.strList("mount_flags", &v.MountOptions.MountFlags)
	}
	return v
}
