package jobspec

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/orch-project/orch/structs"
)

var groupSchema = schema(
	[]string{"count", "shutdown_delay", "stop_after_client_disconnect", "max_client_disconnect", "prevent_reschedule_on_lost"},
	"constraint", "affinity", "spread", "network", "service", "restart", "reschedule", "update", "migrate",
	"ephemeral_disk", "volume:name", "disconnect", "task:name",
	"vault", "consul", "scaling",
)

func (d *decoder) decodeGroup(b *hcl.Block) *structs.TaskGroup {
	tg := &structs.TaskGroup{Name: b.Labels[0]}
	c := d.content(b.Body, groupSchema, "meta")
	d.unsupported(c, "vault", "consul", "scaling")
	a := d.attrs(c)
	a.integer("count", &tg.Count)
	a.durationPtr("shutdown_delay", &tg.ShutdownDelay)
	a.durationPtr("stop_after_client_disconnect", &tg.StopAfterClientDisconnect)
	a.durationPtr("max_client_disconnect", &tg.MaxClientDisconnect)
	a.boolean("prevent_reschedule_on_lost", &tg.PreventRescheduleOnLost)
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
	for _, tb := range c.Blocks.OfType("task") {
		tg.Tasks = append(tg.Tasks, d.decodeTask(tb))
	}
	return tg
}

var networkSchema = schema([]string{"mode", "hostname", "mbits"}, "port:label", "dns")
var portSchema = schema([]string{"static", "to", "host_network"})
var dnsSchema = schema([]string{"servers", "searches", "options"})

func (d *decoder) decodeNetwork(b *hcl.Block) *structs.NetworkResource {
	c := d.content(b.Body, networkSchema)
	a := d.attrs(c)
	n := &structs.NetworkResource{}
	a.str("mode", &n.Mode)
	a.str("hostname", &n.Hostname)
	a.integer("mbits", &n.MBits)
	seen := map[string]hcl.Range{}
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
		if pa.has("static") {
			n.ReservedPorts = append(n.ReservedPorts, p)
		} else {
			n.DynamicPorts = append(n.DynamicPorts, p)
		}
	}
	if db := d.atMostOne(c, "dns"); db != nil {
		da := d.attrs(d.content(db.Body, dnsSchema))
		n.DNS = &structs.DNSConfig{}
		da.strList("servers", &n.DNS.Servers)
		da.strList("searches", &n.DNS.Searches)
		da.strList("options", &n.DNS.Options)
	}
	return n
}

var volumeSchema = schema([]string{"type", "source", "read_only", "access_mode", "attachment_mode", "per_alloc"}, "mount_options")
var mountOptionsSchema = schema([]string{"fs_type", "mount_flags"})

func (d *decoder) decodeVolume(b *hcl.Block) *structs.VolumeRequest {
	c := d.content(b.Body, volumeSchema)
	a := d.attrs(c)
	v := &structs.VolumeRequest{Name: b.Labels[0]}
	a.str("type", &v.Type)
	a.str("source", &v.Source)
	a.boolean("read_only", &v.ReadOnly)
	a.str("access_mode", &v.AccessMode)
	a.str("attachment_mode", &v.AttachmentMode)
	a.boolean("per_alloc", &v.PerAlloc)
	if mb := d.atMostOne(c, "mount_options"); mb != nil {
		ma := d.attrs(d.content(mb.Body, mountOptionsSchema))
		v.MountOptions = &structs.CSIMountOptions{}
		ma.str("fs_type", &v.MountOptions.FSType)
		ma.strList("mount_flags", &v.MountOptions.MountFlags)
	}
	return v
}
