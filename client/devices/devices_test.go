package devices

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

func TestEnvListsNvidiaInstances(t *testing.T) {
	env := Env([]*structs.AllocatedDeviceResource{
		{Vendor: "nvidia", Type: "gpu", Name: "T4", DeviceIDs: []string{"GPU-a", "GPU-b"}},
		{Vendor: "xilinx", Type: "fpga", Name: "u250", DeviceIDs: []string{"fpga-0"}},
		{Vendor: "nvidia", Type: "gpu", Name: "A100", DeviceIDs: []string{"GPU-c"}},
	})
	if got := env[EnvNvidiaVisibleDevices]; got != "GPU-a,GPU-b,GPU-c" || len(env) != 1 {
		t.Fatalf("env %v", env)
	}
	if Env(nil) != nil {
		t.Fatal("env without devices")
	}
}
