package jobspec

import (
	"fmt"
	"strconv"

	"github.com/orch-project/orch/structs"
)

var (
	validArtifactModes = []string{"any", "file", "dir"}
	validChangeModes   = []string{"noop", "restart", "signal", "script"}
	validPropagation   = []string{"private", "host-to-task", "bidirectional"}
)

func (v *validator) task(job *structs.Job, path string, tg *structs.TaskGroup, t *structs.Task, ports map[string]bool) {
	switch {
	case t.Driver == "":
		v.add(path, "missing driver")
	case !contains(KnownDrivers, t.Driver):
		v.add(path, "unknown driver %q: must be one of raw_exec, exec, docker, java", t.Driver)
	}
	v.taskUserEnv(path, t)
	if t.KillTimeout < 0 {
		v.add(path, "kill_timeout must not be negative")
	}
	if t.ShutdownDelay < 0 {
		v.add(path, "shutdown_delay must not be negative")
	}
	if r := t.Resources; r == nil {
		v.add(path, "missing resources")
	} else {
		rp := joinPath(path, "resources")
		if r.MemoryMB < structs.MinTaskMemoryMB {
			v.add(path, "memory must be at least %d MB, got %d", structs.MinTaskMemoryMB, r.MemoryMB)
		}
		if r.MemoryMaxMB != 0 && r.MemoryMaxMB < r.MemoryMB {
			v.add(rp, "memory_max (%d MB) must not be less than memory (%d MB)", r.MemoryMaxMB, r.MemoryMB)
		}
		if r.Cores < 0 {
			v.add(rp, "cores must not be negative")
		}
		if r.SecretsMB != nil && *r.SecretsMB < 1 {
			// A tmpfs of size 0 would be unbounded.
			v.add(rp, "secrets must be at least 1 MB, got %d", *r.SecretsMB)
		}
		if r.Cores > 0 && r.CPU > 0 {
			v.add(rp, "cpu and cores cannot both be set")
		}
		if r.Cores == 0 && r.CPU < 1 {
			v.add(rp, "cpu must be at least 1 MHz, got %d", r.CPU)
		}
		for i, d := range r.Devices {
			if d == nil {
				v.add(joinPath(rp, fmt.Sprintf("device[%d]", i)), "device is null")
				continue
			}
			dp := joinPath(rp, fmt.Sprintf("device %q", d.Name))
			if d.Name == "" {
				v.add(rp, "device without a name")
			}
			if d.Count < 1 {
				v.add(dp, "count must be at least 1")
			}
			v.constraints(dp, d.Constraints)
			v.affinities(dp, d.Affinities)
		}
	}
	if l := t.LogConfig; l != nil {
		if l.MaxFiles < 1 {
			v.add(joinPath(path, "logs"), "max_files must be at least 1")
		}
		if l.MaxFileSizeMB < 1 {
			v.add(joinPath(path, "logs"), "max_file_size must be at least 1 MB")
		}
	}
	if t.RestartPolicy != nil {
		v.restart(joinPath(path, "restart"), t.RestartPolicy)
	}
	if l := t.Lifecycle; l != nil {
		lp := joinPath(path, "lifecycle")
		if !contains(validLifecycleHook, l.Hook) {
			v.add(lp, "invalid lifecycle hook %q: must be prestart, poststart or poststop", l.Hook)
		}
		if l.Sidecar && l.Hook == structs.TaskLifecycleHookPoststop {
			v.add(lp, "a poststop task cannot be a sidecar")
		}
		if t.Leader {
			v.add(lp, "a lifecycle task cannot be the leader")
		}
	}
	v.constraints(path, t.Constraints)
	v.affinities(path, t.Affinities)
	for i, s := range t.Services {
		if s == nil {
			v.add(joinPath(path, fmt.Sprintf("service[%d]", i)), "service is null")
			continue
		}
		sp := joinPath(path, fmt.Sprintf("service %q", s.Name))
		if s.TaskName != "" && s.TaskName != t.Name {
			v.add(sp, "a task's service cannot name another task (%q)", s.TaskName)
		}
		v.service(sp, s, ports, tg, false)
	}
	for i, a := range t.Artifacts {
		ap := joinPath(path, fmt.Sprintf("artifact[%d]", i))
		if a == nil {
			v.add(ap, "artifact is null")
			continue
		}
		if a.GetterSource == "" {
			v.add(ap, "missing artifact source")
		}
		if !contains(validArtifactModes, a.GetterMode) {
			v.add(ap, "invalid artifact mode %q: must be any, file or dir", a.GetterMode)
		}
		if escapesDir(a.RelativeDest) {
			v.add(ap, "destination %q escapes the allocation directory", a.RelativeDest)
		}
	}
	for i, tmpl := range t.Templates {
		if tmpl == nil {
			v.add(joinPath(path, fmt.Sprintf("template[%d]", i)), "template is null")
			continue
		}
		v.template(joinPath(path, fmt.Sprintf("template[%d]", i)), tmpl)
	}
	v.actions(path, t.Actions)
	v.secrets(path, t.Secrets)
	for i, vm := range t.VolumeMounts {
		vp := joinPath(path, fmt.Sprintf("volume_mount[%d]", i))
		if vm == nil {
			v.add(vp, "volume_mount is null")
			continue
		}
		if vm.Volume == "" {
			v.add(vp, "missing volume")
		} else if tg.Volumes[vm.Volume] == nil {
			v.add(vp, "volume %q is not defined in the group", vm.Volume)
		}
		if vm.Destination == "" {
			v.add(vp, "missing destination")
		}
		if vm.PropagationMode != "" && !contains(validPropagation, vm.PropagationMode) {
			v.add(vp, "invalid propagation_mode %q", vm.PropagationMode)
		}
	}
	if dp := t.DispatchPayload; dp != nil {
		if job.ParameterizedJob == nil {
			v.add(joinPath(path, "dispatch_payload"), "dispatch_payload is only valid in a parameterized job")
		}
		if dp.File == "" {
			v.add(joinPath(path, "dispatch_payload"), "missing file")
		} else if escapesDir(dp.File) {
			v.add(joinPath(path, "dispatch_payload"), "file %q escapes the task directory", dp.File)
		}
	}
}

func (v *validator) template(path string, t *structs.Template) {
	if t.SourcePath == "" && t.EmbeddedTmpl == "" {
		v.add(path, "template needs a source or data")
	}
	if t.SourcePath != "" && t.EmbeddedTmpl != "" {
		v.add(path, "template cannot have both source and data")
	}
	if t.DestPath == "" {
		v.add(path, "missing template destination")
	} else if escapesDir(t.DestPath) {
		v.add(path, "destination %q escapes the task directory", t.DestPath)
	}
	if !contains(validChangeModes, t.ChangeMode) {
		v.add(path, "invalid change_mode %q: must be noop, restart, signal or script", t.ChangeMode)
	}
	if t.ChangeMode == "signal" && t.ChangeSignal == "" {
		v.add(path, "change_mode \"signal\" needs a change_signal")
	}
	if t.Splay < 0 {
		v.add(path, "splay must not be negative")
	}
	if t.Perms != "" {
		if _, err := strconv.ParseUint(t.Perms, 8, 12); err != nil {
			v.add(path, "perms %q must be an octal file mode such as \"0644\"", t.Perms)
		}
	}
	if t.LeftDelim == "" || t.RightDelim == "" {
		v.add(path, "template delimiters must not be empty")
	}
	v.templateNative(path, t)
}

// actions checks a task's action blocks as Nomad documents them: a name
// unique within the task and at most 128 characters, and a command.
func (v *validator) actions(path string, acts []*structs.Action) {
	seen := map[string]bool{}
	for i, a := range acts {
		if a == nil {
			v.add(joinPath(path, fmt.Sprintf("action[%d]", i)), "action is null")
			continue
		}
		ap := joinPath(path, fmt.Sprintf("action %q", a.Name))
		switch {
		case a.Name == "":
			v.add(joinPath(path, fmt.Sprintf("action[%d]", i)), "missing action name")
		case len(a.Name) > structs.MaxActionNameLen:
			v.add(ap, "action name must not exceed %d characters", structs.MaxActionNameLen)
		case seen[a.Name]:
			v.add(ap, "duplicate action name %q", a.Name)
		}
		seen[a.Name] = true
		if a.Command == "" {
			v.add(ap, "missing command")
		}
	}
}

// secrets checks a task's secret blocks: a name unique within the task, a
// path, and for the nomad provider no config but namespace.
func (v *validator) secrets(path string, secrets []*structs.Secret) {
	seen := map[string]bool{}
	for i, s := range secrets {
		sp := joinPath(path, fmt.Sprintf("secret[%d]", i))
		if s == nil {
			v.add(sp, "secret is null")
			continue
		}
		switch {
		case s.Name == "":
			v.add(sp, "missing secret name")
		case seen[s.Name]:
			v.add(sp, "duplicate secret name %q", s.Name)
		}
		seen[s.Name] = true
		if s.Name != "" {
			sp = joinPath(path, fmt.Sprintf("secret %q", s.Name))
		}
		if s.Path == "" {
			v.add(sp, "missing path")
		}
		if s.Provider != structs.SecretProviderNomad {
			continue // refused by the field table
		}
		for k, val := range s.Config {
			if _, ok := val.(string); k != "namespace" || !ok {
				v.add(joinPath(sp, "config"), "the nomad provider takes only a namespace (a string), not %q", k)
			}
		}
	}
}
