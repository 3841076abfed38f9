package exec

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func TestParseConfig(t *testing.T) {
	tc, err := ParseConfig(map[string]any{
		"command": "/bin/app", "args": []any{"-x"}, "pid_mode": "host", "ipc_mode": nil,
		"cap_add": []any{"net_raw"}, "cap_drop": []string{"all"}, "pids_limit": float64(64),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &TaskConfig{Command: "/bin/app", Args: []string{"-x"}, PIDMode: "host", IPCMode: "private",
		CapAdd: []string{"net_raw"}, CapDrop: []string{"all"}, PidsLimit: 64}
	if !reflect.DeepEqual(tc, want) {
		t.Fatalf("got %+v", tc)
	}
	bad := []map[string]any{
		{},
		{"command": 1},
		{"command": "x", "pid_mode": "shared"},
		{"command": "x", "cap_add": []any{"cap_nope"}},
		{"command": "x", "pids_limit": -1},
		{"command": "x", "image": "y"},
	}
	for _, b := range bad {
		if _, err := ParseConfig(b); err == nil {
			t.Errorf("accepted %v", b)
		}
	}
}

func TestConfigSpecDecodesHCL(t *testing.T) {
	src := `command = "/bin/echo"
args = ["hi"]
cap_drop = ["all"]
`
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	v, diags := hcldec.Decode(f.Body, configSpec(), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if v.GetAttr("command").AsString() != "/bin/echo" {
		t.Fatalf("decoded %#v", v)
	}
	f, _ = hclsyntax.ParseConfig([]byte(`command = "x"`+"\n"+`bogus = 1`), "t.hcl", hcl.InitialPos)
	if _, diags := hcldec.Decode(f.Body, configSpec(), nil); !diags.HasErrors() || !strings.Contains(diags.Error(), "bogus") {
		t.Fatalf("unknown key not reported: %v", diags)
	}
}
