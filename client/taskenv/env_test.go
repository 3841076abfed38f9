package taskenv

import (
	"reflect"
	"testing"

	"github.com/orch-project/orch/structs"
)

func fixture() (NodeInfo, *structs.Allocation, *structs.Task) {
	task := &structs.Task{
		Name: "web",
		Env: map[string]string{
			"GREETING": "hi from ${NOMAD_ALLOC_INDEX} on ${attr.kernel.name}",
			"LITERAL":  "${not.a.var} and ${unclosed",
			"DC":       "${node.datacenter}/${meta.rack}",
		},
		Meta:      map[string]string{"owner": "task", "my-key": "v"},
		Resources: &structs.Resources{CPU: 100, MemoryMB: 64},
	}
	job := &structs.Job{
		ID: "example", Name: "example-name", Region: "eu", Namespace: "default",
		Meta: map[string]string{"owner": "job", "team": "infra"},
		TaskGroups: []*structs.TaskGroup{{
			Name: "cache", Meta: map[string]string{"owner": "group", "tier": "gold"}, Tasks: []*structs.Task{task},
		}},
	}
	alloc := &structs.Allocation{
		ID: "0123456789-abcdef", Name: "example.cache[3]", JobID: "example", Namespace: "default",
		TaskGroup: "cache", Job: job,
		AllocatedResources: &structs.AllocatedResources{
			Tasks: map[string]*structs.AllocatedTaskResources{"web": {
				Cpu: structs.AllocatedCpuResources{CpuShares: 500}, Memory: structs.AllocatedMemoryResources{MemoryMB: 256, MemoryMaxMB: 512},
			}},
			Shared: structs.AllocatedSharedResources{Ports: []structs.AllocatedPort{
				{Label: "http", Value: 23456, To: 8080, HostIP: "10.0.0.5"},
				{Label: "db-port", Value: 23457, HostIP: "10.0.0.5"},
			}},
		},
	}
	node := &structs.Node{
		ID: "node-1", Name: "n1", Datacenter: "dc1", NodeClass: "big", NodePool: "default",
		Attributes: map[string]string{"kernel.name": "linux"}, Meta: map[string]string{"rack": "r7"},
	}
	return NodeInfo{Node: node, Region: "global"}, alloc, task
}

func TestBuild(t *testing.T) {
	ni, alloc, task := fixture()
	task.Driver = "docker"
	env := Build(ni, alloc, task, Dirs{AllocDir: "/d/alloc", TaskDir: "/d/web/local", SecretsDir: "/d/web/secrets", TmpDir: "/d/web/tmp"})
	want := map[string]string{
		"NOMAD_ALLOC_ID":         "0123456789-abcdef",
		"NOMAD_SHORT_ALLOC_ID":   "01234567",
		"NOMAD_ALLOC_NAME":       "example.cache[3]",
		"NOMAD_ALLOC_INDEX":      "3",
		"NOMAD_JOB_ID":           "example",
		"NOMAD_JOB_NAME":         "example-name",
		"NOMAD_GROUP_NAME":       "cache",
		"NOMAD_TASK_NAME":        "web",
		"NOMAD_NAMESPACE":        "default",
		"NOMAD_REGION":           "eu",
		"NOMAD_DC":               "dc1",
		"NOMAD_ALLOC_DIR":        "/d/alloc",
		"NOMAD_TASK_DIR":         "/d/web/local",
		"NOMAD_SECRETS_DIR":      "/d/web/secrets",
		"NOMAD_CPU_LIMIT":        "500",
		"NOMAD_MEMORY_LIMIT":     "256",
		"NOMAD_MEMORY_MAX_LIMIT": "512",
		"NOMAD_META_owner":       "task",
		"NOMAD_META_OWNER":       "task",
		"NOMAD_META_team":        "infra",
		"NOMAD_META_tier":        "gold",
		"NOMAD_META_my_key":      "v",
		"NOMAD_PORT_http":        "8080",
		"NOMAD_HOST_PORT_http":   "23456",
		"NOMAD_IP_http":          "10.0.0.5",
		"NOMAD_ADDR_http":        "10.0.0.5:8080",
		"NOMAD_HOST_ADDR_http":   "10.0.0.5:23456",
		"NOMAD_PORT_db_port":     "23457",
		"NOMAD_ALLOC_PORT_http":  "8080",
		"ORCH_PORT_http":         "8080",
		"ORCH_ALLOC_INDEX":       "3",
		"ORCH_TASK_DIR":          "/d/web/local",
		"ORCH_META_team":         "infra",
		"TMPDIR":                 "/d/web/tmp",
		"GREETING":               "hi from 3 on linux",
		"LITERAL":                "${not.a.var} and ${unclosed",
		"DC":                     "dc1/r7",
	}
	got := env.Map()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// Every NOMAD_ variable has its ORCH_ alias.
	for k, v := range got {
		if len(k) > 6 && k[:6] == "NOMAD_" && got["ORCH_"+k[6:]] != v {
			t.Errorf("missing alias ORCH_%s", k[6:])
		}
	}
}

func TestBuildDefaults(t *testing.T) {
	// No job, no allocated resources, unindexed name: nothing panics.
	alloc := &structs.Allocation{ID: "a", Name: "odd"}
	task := &structs.Task{Name: "t"}
	env := Build(NodeInfo{Region: "global"}, alloc, task, IsolatedDirs)
	m := env.Map()
	if m["NOMAD_ALLOC_INDEX"] != "0" || m["NOMAD_REGION"] != "global" || m["NOMAD_ALLOC_DIR"] != "/alloc" || m["NOMAD_CPU_LIMIT"] != "0" {
		t.Fatalf("defaults: %v", m)
	}
}

func TestReplace(t *testing.T) {
	ni, alloc, task := fixture()
	env := Build(ni, alloc, task, IsolatedDirs)
	cases := map[string]string{
		"":                                  "",
		"plain":                             "plain",
		"${NOMAD_ALLOC_INDEX}":              "3",
		"${ORCH_JOB_ID}-${NOMAD_TASK_NAME}": "example-web",
		"${ attr.kernel.name }":             "linux",
		"${node.unique.id}/${node.class}":   "node-1/big",
		"${node.region}/${node.pool}":       "global/default",
		"${meta.rack}${meta.nope}":          "r7${meta.nope}",
		"${GREETING}!":                      "hi from 3 on linux!",
		"${env.NOMAD_TASK_NAME}":            "web",
		"$${x} ${":                          "$${x} ${",
	}
	for in, want := range cases {
		if got := env.ReplaceString(in); got != want {
			t.Errorf("ReplaceString(%q) = %q, want %q", in, got, want)
		}
	}
	cfg := map[string]any{
		"command": "/bin/${NOMAD_TASK_NAME}",
		"args":    []any{"--idx", "${NOMAD_ALLOC_INDEX}", 7},
		"nested":  map[string]any{"k": []string{"${meta.rack}"}},
		"n":       3.5,
	}
	got := env.ReplaceConfig(cfg)
	want := map[string]any{
		"command": "/bin/web",
		"args":    []any{"--idx", "3", 7},
		"nested":  map[string]any{"k": []string{"r7"}},
		"n":       3.5,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ReplaceConfig = %#v", got)
	}
	if cfg["command"] != "/bin/${NOMAD_TASK_NAME}" {
		t.Fatal("ReplaceConfig mutated its input")
	}
}

// TestPortsForHostDrivers: a task that is not port-mapped binds the host
// port, whatever `to` says; NOMAD_ALLOC_PORT still carries `to`.
func TestPortsForHostDrivers(t *testing.T) {
	ni, alloc, task := fixture()
	task.Driver = "raw_exec"
	got := Build(ni, alloc, task, IsolatedDirs).Map()
	want := map[string]string{
		"NOMAD_PORT_http": "23456", "NOMAD_HOST_PORT_http": "23456", "NOMAD_ADDR_http": "10.0.0.5:23456",
		"NOMAD_ALLOC_PORT_http": "8080", "NOMAD_IP_http": "10.0.0.5", "ORCH_PORT_http": "23456",
		"NOMAD_PORT_db_port": "23457", "NOMAD_ALLOC_PORT_db_port": "23457", "ORCH_ADDR_db_port": "10.0.0.5:23457",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
