package jobspec

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/orch-project/orch/structs"
)

var taskSchema = schema(
	[]string{"driver", "user", "kill_timeout", "kill_signal", "shutdown_delay", "leader", "kind"},
	"config", "resources", "artifact", "template", "lifecycle", "logs", "service", "volume_mount",
	"dispatch_payload", "restart", "constraint", "affinity",
	"vault", "consul", "identity", "csi_plugin", "scaling:name", "secret:name", "action:name", "schedule",
)

func (d *decoder) decodeTask(b *hcl.Block) *structs.Task {
	t := &structs.Task{Name: b.Labels[0]}
	d.at(t, b.DefRange)
	c := d.content(b.Body, taskSchema, "meta", "env")
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
		d.at(t.Lifecycle, lb.DefRange)
		la.str("hook", &t.Lifecycle.Hook)
		la.boolean("sidecar", &t.Lifecycle.Sidecar)
	}
	if lb := d.atMostOne(c, "logs"); lb != nil {
		la := d.attrs(d.content(lb.Body, logsSchema))
		t.LogConfig = &structs.LogConfig{}
		d.at(t.LogConfig, lb.DefRange)
		la.integer("max_files", &t.LogConfig.MaxFiles)
		la.integer("max_file_size", &t.LogConfig.MaxFileSizeMB)
		la.boolean("disabled", &t.LogConfig.Disabled)
		// Older jobs say enabled = false; Canonicalize folds it in.
		la.boolPtr("enabled", &t.LogConfig.Enabled)
	}
	t.Services = d.services(c)
	for _, vb := range c.Blocks.OfType("volume_mount") {
		va := d.attrs(d.content(vb.Body, volumeMountSchema))
		vm := &structs.VolumeMount{}
		d.at(vm, vb.DefRange)
		va.str("volume", &vm.Volume)
		va.str("destination", &vm.Destination)
		va.boolean("read_only", &vm.ReadOnly)
		va.str("propagation_mode", &vm.PropagationMode)
		va.str("selinux_label", &vm.SELinuxLabel)
		t.VolumeMounts = append(t.VolumeMounts, vm)
	}
	if pb := d.atMostOne(c, "dispatch_payload"); pb != nil {
		t.DispatchPayload = &structs.DispatchPayloadConfig{}
		d.at(t.DispatchPayload, pb.DefRange)
		d.attrs(d.content(pb.Body, dispatchPayloadSchema)).str("file", &t.DispatchPayload.File)
	}
	if rb := d.atMostOne(c, "restart"); rb != nil {
		t.RestartPolicy = d.decodeRestart(rb)
	}
	t.Constraints = d.constraints(c)
	t.Affinities = d.affinities(c)
	d.decodeTaskExtras(t, c)
	return t
}

// decodeTaskExtras reads the task blocks orch keeps for the field-state
// table to judge: identities, Vault, Consul, CSI plugins, vertical
// scaling, secrets, actions and schedules.
func (d *decoder) decodeTaskExtras(t *structs.Task, c *hcl.BodyContent) {
	if b := d.atMostOne(c, "vault"); b != nil {
		t.Vault = d.opaque(b)
	}
	if b := d.atMostOne(c, "consul"); b != nil {
		t.Consul = d.opaque(b)
	}
	if b := d.atMostOne(c, "csi_plugin"); b != nil {
		t.CSIPluginConfig = d.opaque(b)
	}
	if b := d.atMostOne(c, "schedule"); b != nil {
		t.Schedule = d.opaque(b)
	}
	for _, b := range c.Blocks.OfType("identity") {
		id := d.decodeIdentity(b)
		if id.Name == "" || id.Name == "default" {
			if t.Identity != nil {
				d.errorf(b.DefRange, "Duplicate identity block", "Only one identity block without a name (the default identity) is allowed.")
			}
			t.Identity = id
			continue
		}
		t.Identities = append(t.Identities, id)
	}
	for _, b := range c.Blocks.OfType("scaling") {
		t.ScalingPolicies = append(t.ScalingPolicies, d.decodeScaling(b, b.Labels[0]))
	}
	for _, b := range c.Blocks.OfType("secret") {
		t.Secrets = append(t.Secrets, d.decodeSecret(b))
	}
	for _, b := range c.Blocks.OfType("action") {
		t.Actions = append(t.Actions, d.decodeAction(b))
	}
}

var secretSchema = schema([]string{"provider", "path"}, "config")

func (d *decoder) decodeSecret(b *hcl.Block) *structs.Secret {
	c := d.content(b.Body, secretSchema, "env")
	a := d.attrs(c)
	s := &structs.Secret{Name: b.Labels[0]}
	d.at(s, b.DefRange)
	a.str("provider", &s.Provider)
	a.str("path", &s.Path)
	if cb := d.atMostOne(c, "config"); cb != nil {
		s.Config = d.genericBody(cb.Body)
	}
	d.strMap(c, "env", &s.Env)
	return s
}

var actionSchema = schema([]string{"command", "args"})

func (d *decoder) decodeAction(b *hcl.Block) *structs.Action {
	a := d.attrs(d.content(b.Body, actionSchema))
	act := &structs.Action{Name: b.Labels[0]}
	d.at(act, b.DefRange)
	a.str("command", &act.Command)
	a.strList("args", &act.Args)
	return act
}

var identitySchema = schema([]string{"name", "aud", "change_mode", "change_signal", "env", "file", "filepath",
	"service_name", "ttl", "extra_claims"})

func (d *decoder) decodeIdentity(b *hcl.Block) *structs.WorkloadIdentity {
	a := d.attrs(d.content(b.Body, identitySchema))
	id := &structs.WorkloadIdentity{}
	d.at(id, b.DefRange)
	a.str("name", &id.Name)
	a.strList("aud", &id.Audience)
	a.str("change_mode", &id.ChangeMode)
	a.str("change_signal", &id.ChangeSignal)
	a.boolean("env", &id.Env)
	a.boolean("file", &id.File)
	a.str("filepath", &id.Filepath)
	a.str("service_name", &id.ServiceName)
	a.duration("ttl", &id.TTL)
	a.strList("extra_claims", &id.ExtraClaims)
	return id
}

var (
	lifecycleSchema       = schema([]string{"hook", "sidecar"})
	logsSchema            = schema([]string{"max_files", "max_file_size", "disabled", "enabled"})
	volumeMountSchema     = schema([]string{"volume", "destination", "read_only", "propagation_mode"})
	dispatchPayloadSchema = schema([]string{"file"})
	resourcesSchema       = schema([]string{"cpu", "cores", "memory", "memory_max", "disk", "iops", "secrets"}, "device:name", "network", "numa")
	deviceSchema          = schema([]string{"count"}, "constraint", "affinity")
)

func (d *decoder) decodeResources(b *hcl.Block) *structs.Resources {
	c := d.content(b.Body, resourcesSchema)
	a := d.attrs(c)
	r := &structs.Resources{}
	d.at(r, b.DefRange)
	a.integer("cpu", &r.CPU)
	a.integer("cores", &r.Cores)
	a.integer("memory", &r.MemoryMB)
	a.integer("memory_max", &r.MemoryMaxMB)
	a.integer("disk", &r.DiskMB)
	a.intPtr("iops", &r.IOPS)
	a.intPtr("secrets", &r.SecretsMB)
	for _, nb := range c.Blocks.OfType("network") {
		r.Networks = append(r.Networks, d.decodeNetwork(nb))
	}
	if nb := d.atMostOne(c, "numa"); nb != nil {
		r.NUMA = d.opaque(nb)
	}
	for _, db := range c.Blocks.OfType("device") {
		dc := d.content(db.Body, deviceSchema)
		dev := &structs.RequestedDevice{Name: db.Labels[0], Count: 1}
		d.at(dev, db.DefRange)
		d.attrs(dc).uint64("count", &dev.Count)
		dev.Constraints = d.constraints(dc)
		dev.Affinities = d.affinities(dc)
		r.Devices = append(r.Devices, dev)
	}
	return r
}

var artifactSchema = schema([]string{"source", "destination", "mode", "insecure", "chown"})

func (d *decoder) decodeArtifact(b *hcl.Block) *structs.TaskArtifact {
	c := d.content(b.Body, artifactSchema, "options", "headers")
	a := d.attrs(c)
	art := &structs.TaskArtifact{}
	d.at(art, b.DefRange)
	if !a.str("source", &art.GetterSource) && c.Attributes["source"] == nil {
		d.errorf(b.DefRange, "Missing required argument", "An artifact needs a \"source\".")
	}
	a.str("destination", &art.RelativeDest)
	a.str("mode", &art.GetterMode)
	a.boolean("insecure", &art.GetterInsecure)
	a.boolean("chown", &art.Chown)
	d.strMap(c, "options", &art.GetterOptions)
	d.strMap(c, "headers", &art.GetterHeaders)
	return art
}

var (
	templateSchema = schema([]string{"source", "destination", "data", "change_mode", "change_signal", "splay",
		"perms", "uid", "gid", "left_delimiter", "right_delimiter", "env", "error_on_missing_key", "once",
		"vault_grace"}, "wait", "change_script")
	waitSchema         = schema([]string{"min", "max"})
	changeScriptSchema = schema([]string{"command", "args", "timeout", "fail_on_error", "run_on_first_render"})
)

func (d *decoder) decodeTemplate(b *hcl.Block) *structs.Template {
	c := d.content(b.Body, templateSchema)
	a := d.attrs(c)
	t := &structs.Template{}
	d.at(t, b.DefRange)
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
	a.boolean("once", &t.Once)
	a.duration("vault_grace", &t.VaultGrace)
	if wb := d.atMostOne(c, "wait"); wb != nil {
		wa := d.attrs(d.content(wb.Body, waitSchema))
		t.Wait = &structs.WaitConfig{}
		d.at(t.Wait, wb.DefRange)
		wa.durationPtr("min", &t.Wait.Min)
		wa.durationPtr("max", &t.Wait.Max)
	}
	if sb := d.atMostOne(c, "change_script"); sb != nil {
		sa := d.attrs(d.content(sb.Body, changeScriptSchema))
		t.ChangeScript = &structs.ChangeScript{}
		d.at(t.ChangeScript, sb.DefRange)
		sa.str("command", &t.ChangeScript.Command)
		sa.strList("args", &t.ChangeScript.Args)
		sa.duration("timeout", &t.ChangeScript.Timeout)
		sa.boolean("fail_on_error", &t.ChangeScript.FailOnError)
		sa.boolean("run_on_first_render", &t.ChangeScript.RunOnFirstRender)
	}
	return t
}
