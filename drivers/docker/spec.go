package docker

import (
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// mountSpec is the schema of one mount block. Nomad spells the block
// `mount`; `mounts` is accepted too, so both decode to the same list.
func mountSpec(typeName string) hcldec.Spec {
	return &hcldec.BlockListSpec{
		TypeName: typeName,
		Nested: hcldec.ObjectSpec{
			"type":     &hcldec.AttrSpec{Name: "type", Type: cty.String},
			"source":   &hcldec.AttrSpec{Name: "source", Type: cty.String},
			"target":   &hcldec.AttrSpec{Name: "target", Type: cty.String, Required: true},
			"readonly": &hcldec.AttrSpec{Name: "readonly", Type: cty.Bool},
		},
	}
}

// configSpec is built once: hcldec specs are immutable values.
var configSpec hcldec.Spec = hcldec.ObjectSpec{
	"image":              &hcldec.AttrSpec{Name: "image", Type: cty.String, Required: true},
	"command":            &hcldec.AttrSpec{Name: "command", Type: cty.String},
	"args":               &hcldec.AttrSpec{Name: "args", Type: cty.List(cty.String)},
	"entrypoint":         &hcldec.AttrSpec{Name: "entrypoint", Type: cty.List(cty.String)},
	"ports":              &hcldec.AttrSpec{Name: "ports", Type: cty.List(cty.String)},
	"network_mode":       &hcldec.AttrSpec{Name: "network_mode", Type: cty.String},
	"volumes":            &hcldec.AttrSpec{Name: "volumes", Type: cty.List(cty.String)},
	"mount":              mountSpec("mount"),
	"mounts":             mountSpec("mounts"),
	"labels":             &hcldec.AttrSpec{Name: "labels", Type: cty.Map(cty.String)},
	"work_dir":           &hcldec.AttrSpec{Name: "work_dir", Type: cty.String},
	"hostname":           &hcldec.AttrSpec{Name: "hostname", Type: cty.String},
	"extra_hosts":        &hcldec.AttrSpec{Name: "extra_hosts", Type: cty.List(cty.String)},
	"dns_servers":        &hcldec.AttrSpec{Name: "dns_servers", Type: cty.List(cty.String)},
	"cap_add":            &hcldec.AttrSpec{Name: "cap_add", Type: cty.List(cty.String)},
	"cap_drop":           &hcldec.AttrSpec{Name: "cap_drop", Type: cty.List(cty.String)},
	"privileged":         &hcldec.AttrSpec{Name: "privileged", Type: cty.Bool},
	"force_pull":         &hcldec.AttrSpec{Name: "force_pull", Type: cty.Bool},
	"image_pull_timeout": &hcldec.AttrSpec{Name: "image_pull_timeout", Type: cty.String},
	"pids_limit":         &hcldec.AttrSpec{Name: "pids_limit", Type: cty.Number},
	"auth_soft_fail":     &hcldec.AttrSpec{Name: "auth_soft_fail", Type: cty.Bool},
	"shm_size":           &hcldec.AttrSpec{Name: "shm_size", Type: cty.Number},
	"init":               &hcldec.AttrSpec{Name: "init", Type: cty.Bool},
	"readonly_rootfs":    &hcldec.AttrSpec{Name: "readonly_rootfs", Type: cty.Bool},
	"memory_hard_limit":  &hcldec.AttrSpec{Name: "memory_hard_limit", Type: cty.Number},
	"sysctl":             &hcldec.AttrSpec{Name: "sysctl", Type: cty.Map(cty.String)},
	"ulimit":             &hcldec.AttrSpec{Name: "ulimit", Type: cty.Map(cty.String)},
	"runtime":            &hcldec.AttrSpec{Name: "runtime", Type: cty.String},
	"userns_mode":        &hcldec.AttrSpec{Name: "userns_mode", Type: cty.String},
	"dns_search_domains": &hcldec.AttrSpec{Name: "dns_search_domains", Type: cty.List(cty.String)},
	"dns_options":        &hcldec.AttrSpec{Name: "dns_options", Type: cty.List(cty.String)},
	"devices": &hcldec.BlockListSpec{
		TypeName: "devices",
		Nested: hcldec.ObjectSpec{
			"host_path":          &hcldec.AttrSpec{Name: "host_path", Type: cty.String, Required: true},
			"container_path":     &hcldec.AttrSpec{Name: "container_path", Type: cty.String},
			"cgroup_permissions": &hcldec.AttrSpec{Name: "cgroup_permissions", Type: cty.String},
		},
	},
	"auth": &hcldec.BlockSpec{
		TypeName: "auth",
		Nested: hcldec.ObjectSpec{
			"username":       &hcldec.AttrSpec{Name: "username", Type: cty.String},
			"password":       &hcldec.AttrSpec{Name: "password", Type: cty.String},
			"server_address": &hcldec.AttrSpec{Name: "server_address", Type: cty.String},
		},
	},
}
