package jobspec

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/orch-project/orch/structs"
)

var taskSchema = schema(
	[]string{"driver", "user", "kill_timeout", "kill_signal", "shutdown_delay", "leader", "kind"},
	"config", "resources", "artifact", "template", "lifecycle", "logs", "service", "volume_mount",
	"dispatch_payload", "restart", "constraint", "affinity",
	"vault", "consul", "identity", "csi_plugin", "scaling",
)

func (d *decoder) decodeTask(b *hcl.Block) *structs.Task {
	t := &structs.Task{Name: b.Labels[0]}
	c := d.content(b.Body, taskSchema, "meta", "env")
	d.unsupported(c, "vault", "consul", "identity", "csi_plugin", "scaling")
	a := d.attrs(c)
	if !a.str("driver", &t.Driver) && c.Attributes["driver"] == nil {
		d.errorf(b.DefRange, "Missing required argument", "Task %q needs a \"driver\".", t.Name)
	}
	a.str("user", &t.User)
	a.duration("kill_timeout", &t.KillTimeout)
	a.str("kill_signal", &t.KillSignal)
	a.duration("shutdown_delay", &t.ShutdownDelay)
	a.boolean("leader", &t.Leader)
	a.str("kind", &t.Kind)
	d.strMap(c, "meta", &t.Meta)
	d.strMap(c, "env", &t.Env)

	if cb := d.atMostOne(c, "config"); cb != nil {
		t.Config = d.decodeDriverConfig(t.Driver, cb)
	}
	if rb := d.atMostOne(c, "resources"); rb != nil {
		t.Resources = d.decodeResources(rb)
	}
	for _, ab := range c.Blocks.OfType("artifact") {
		t.Artifacts = append(t.Artifacts, d.decodeArtifact(ab))
	}
	for _, tb := range c.Blocks.OfType("template") {
		t.Templates = append(t.Templates, d.decodeTemplate(tb))
	}
	if lb := d.atMostOne(c, "lifecycle"); lb != nil {
		la := d.attrs(d.content(lb.Body, lifecycleSchema))
		t.Lifecycle = &structs.TaskLifecycle{}
		la.str("hook", &t.Lifecycle.Hook)
		la.boolean("sidecar", &t.Lifecycle.Sidecar)
	}
	if lb := d.atMostOne(c, "logs"); lb != nil {
		la := d.attrs(d.content(lb.Body, logsSchema))
		t.LogConfig = &structs.LogConfig{}
		la.integer("max_files", &t.LogConfig.MaxFiles)
		la.integer("max_file_size", &t.LogConfig.MaxFileSizeMB)
		la.boolean("disabled", &t.LogConfig.Disabled)
		// Older jobs say enabled = false.
		var enabled bool
		if la.boolean("enabled", &enabled) {
			t.LogConfig.Disabled = !enabled
		}
	}
	t.Services = d.services(c)
	for _, vb := range c.Blocks.OfType("volume_mount") {
		va := d.attrs(d.content(vb.Body, volumeMountSchema))
		vm := &structs.VolumeMount{}
		va.str("volume", &vm.Volume)
		va.str("destination", &vm.Destination)
		va.boolean("read_only", &vm.ReadOnly)
		va.str("propagation_mode", &vm.PropagationMode)
		t.VolumeMounts = append(t.VolumeMounts, vm)
	}
	if pb := d.atMostOne(c, "dispatch_payload"); pb != nil {
		t.DispatchPayload = &structs.DispatchPayloadConfig{}
		d.attrs(d.content(pb.Body, dispatchPayloadSchema)).str("file", &t.DispatchPayload.File)
	}
	if rb := d.atMostOne(c, "restart"); rb != nil {
		t.RestartPolicy = d.decodeRestart(rb)
	}
	t.Constraints = d.constraints(c)
	t.Affinities = d.affinities(c)
	return t
}

var (
	lifecycleSchema       = schema([]string{"hook", "sidecar"})
	logsSchema            = schema([]string{"max_files", "max_file_size", "disabled", "enabled"})
	volumeMountSchema     = schema([]string{"volume", "destination", "read_only", "propagation_mode"})
	dispatchPayloadSchema = schema([]string{"file"})
	resourcesSchema       = schema([]string{"cpu", "cores", "memory", "memory_max"}, "device:name", "network")
	deviceSchema          = schema([]string{"count"}, "constraint", "affinity")
)

func (d *decoder) decodeResources(b *hcl.Block) *structs.Resources {
	c := d.content(b.Body, resourcesSchema)
	for _, nb := range c.Blocks.OfType("network") {
		d.errorf(nb.DefRange, "Unsupported block", "Task-level networks are not supported; declare the network in the group.")
	}
	a := d.attrs(c)
	r := &structs.Resources{}
	a.integer("cpu", &r.CPU)
	a.integer("cores", &r.Cores)
	a.integer("memory", &r.MemoryMB)
	a.integer("memory_max", &r.MemoryMaxMB)
	for _, db := range c.Blocks.OfType("device") {
		dc := d.content(db.Body, deviceSchema)
		dev := &structs.RequestedDevice{Name: db.Labels[0], Count: 1}
		d.attrs(dc).uint64("count", &dev.Count)
		dev.Constraints = d.constraints(dc)
		dev.Affinities = d.affinities(dc)
		r.Devices = append(r.Devices, dev)
	}
	return r
}

var artifactSchema = schema([]string{"source", "destination", "mode"})

func (d *decoder) decodeArtifact(b *hcl.Block) *structs.TaskArtifact {
	c := d.content(b.Body, artifactSchema, "options", "headers")
	a := d.attrs(c)
	art := &structs.TaskArtifact{}
	if !a.str("source", &art.GetterSource) && c.Attributes["source"] == nil {
		d.errorf(b.DefRange, "Missing required argument", "An artifact needs a \"source\".")
	}
	a.str("destination", &art.RelativeDest)
	a.str("mode", &art.GetterMode)
	d.strMap(c, "options", &art.GetterOptions)
	d.strMap(c, "headers", &art.GetterHeaders)
	return art
}

var templateSchema = schema([]string{"source", "destination", "data", "change_mode", "change_signal", "splay",
	"perms", "uid", "gid", "left_delimiter", "right_delimiter", "env", "error_on_missing_key"})

func (d *decoder) decodeTemplate(b *hcl.Block) *structs.Template {
	a := d.attrs(d.content(b.Body, templateSchema))
	t := &structs.Template{}
	a.str("source", &t.SourcePath)
	a.str("destination", &t.DestPath)
	a.str("data", &t.EmbeddedTmpl)
	a.str("change_mode", &t.ChangeMode)
	a.str("change_signal", &t.ChangeSignal)
	a.duration("splay", &t.Splay)
	a.str("perms", &t.Perms)
	a.intPtr("uid", &t.Uid)
	a.intPtr("gid", &t.Gid)
	a.str("left_delimiter", &t.LeftDelim)
	a.str("right_delimiter", &t.RightDelim)
	a.boolean("env", &t.Envvars)
	a.boolean("error_on_missing_key", &t.ErrMissingKey)
	return t
}
