package exec

import (
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec/isolation"
)

// Namespace modes of pid_mode and ipc_mode.
const (
	ModePrivate = "private"
	ModeHost    = "host"
)

// configSpec is the schema of an exec task's `config {}` block.
func configSpec() hcldec.Spec {
	return hcldec.ObjectSpec{
		"command":    &hcldec.AttrSpec{Name: "command", Type: cty.String, Required: true},
		"args":       &hcldec.AttrSpec{Name: "args", Type: cty.List(cty.String)},
		"pid_mode":   &hcldec.AttrSpec{Name: "pid_mode", Type: cty.String},
		"ipc_mode":   &hcldec.AttrSpec{Name: "ipc_mode", Type: cty.String},
		"cap_add":    &hcldec.AttrSpec{Name: "cap_add", Type: cty.List(cty.String)},
		"cap_drop":   &hcldec.AttrSpec{Name: "cap_drop", Type: cty.List(cty.String)},
		"pids_limit": &hcldec.AttrSpec{Name: "pids_limit", Type: cty.Number},
	}
}

// TaskConfig is the decoded `config {}` block.
type TaskConfig struct {
	Command   string
	Args      []string
	PIDMode   string
	IPCMode   string
	CapAdd    []string
	CapDrop   []string
	PidsLimit int64
}

// ParseConfig decodes and checks a config map as it arrives over the API.
func ParseConfig(cfg map[string]any) (*TaskConfig, error) {
	tc := TaskConfig{PIDMode: ModePrivate, IPCMode: ModePrivate}
	var err error
	for k, v := range cfg {
		switch k {
		case "command":
			tc.Command, err = drivers.String(v)
		case "args":
			tc.Args, err = drivers.StringList(v)
		case "pid_mode":
			err = mode(v, &tc.PIDMode)
		case "ipc_mode":
			err = mode(v, &tc.IPCMode)
		case "cap_add":
			tc.CapAdd, err = drivers.StringList(v)
		case "cap_drop":
			tc.CapDrop, err = drivers.StringList(v)
		case "pids_limit":
			tc.PidsLimit, err = drivers.Int(v)
			if err == nil && tc.PidsLimit < 0 {
				err = errors.New("must not be negative")
			}
		default:
			return nil, fmt.Errorf("exec: unknown config key %q", k)
		}
		if err != nil {
			return nil, fmt.Errorf("exec: config.%s: %w", k, err)
		}
	}
	if tc.Command == "" {
		return nil, errors.New("exec: config.command is required")
	}
	if _, err := isolation.Capabilities(tc.CapAdd, tc.CapDrop); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	return &tc, nil
}

func mode(v any, dst *string) error {
	s, err := drivers.String(v)
	if err != nil {
		return err
	}
	switch s {
	case "":
	case ModePrivate, ModeHost:
		*dst = s
	default:
		return fmt.Errorf("must be %q or %q, got %q", ModePrivate, ModeHost, s)
	}
	return nil
}

// Client options bounding what isolated (exec, java) tasks may ask for.
const (
	// OptionUserDenylist lists users tasks may not run as (comma-separated,
	// default "root"), as Nomad's client option of the same name.
	OptionUserDenylist = "user.denylist"
	// OptionCapAllowlist lists the capabilities cap_add may name
	// (comma-separated, default Docker's default set; "all" allows any).
	OptionCapAllowlist = "exec.caps.allowlist"
)

// HostPolicy is the operator's bound on a task's user and capabilities.
// Zero value: the defaults (isolation.DefaultUserDenylist and
// isolation.DefaultCapAllowlist).
type HostPolicy struct {
	UserDenylist []string
	CapAllowlist []string
}

// PolicyFromOptions reads OptionUserDenylist and OptionCapAllowlist.
func PolicyFromOptions(opts map[string]string) (HostPolicy, error) {
	var p HostPolicy
	if v, ok := opts[OptionUserDenylist]; ok {
		p.UserDenylist = isolation.ParseUserList(v)
	}
	if v, ok := opts[OptionCapAllowlist]; ok {
		caps, err := isolation.ParseCapAllowlist(v)
		if err != nil {
			return HostPolicy{}, fmt.Errorf("option %s: %w", OptionCapAllowlist, err)
		}
		p.CapAllowlist = caps
	}
	return p, nil
}

// Check refuses a task whose user is denied or whose cap_add reaches past
// the allowlist. It runs at Start, on the client whose options apply.
func (p HostPolicy) Check(user string, capAdd []string) error {
	if err := isolation.CheckUser("/etc/passwd", user, p.UserDenylist, OptionUserDenylist); err != nil {
		return err
	}
	return isolation.CheckCapAdd(capAdd, p.CapAllowlist, OptionCapAllowlist)
}
