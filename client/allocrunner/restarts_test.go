package allocrunner

import (
	"errors"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

func TestRestartTrackerSuccess(t *testing.T) {
	ok := &drivers.ExitResult{}
	if d := NewRestartTracker(nil, structs.JobTypeBatch).Next(ok, nil, time.Now()); d.Restart || d.Failed {
		t.Fatalf("batch success: %+v", d)
	}
	if d := NewRestartTracker(nil, structs.JobTypeService).Next(ok, nil, time.Now()); !d.Restart {
		t.Fatalf("service success must restart: %+v", d)
	}
}

func TestRestartTrackerFailMode(t *testing.T) {
	p := &structs.RestartPolicy{Attempts: 2, Interval: time.Minute, Delay: time.Second, Mode: structs.RestartPolicyModeFail}
	r := NewRestartTracker(p, structs.JobTypeBatch)
	r.jitter = func() float64 { return 0.5 }
	now := time.Unix(1000, 0)
	bad := &drivers.ExitResult{ExitCode: 1}
	for i := 0; i < 2; i++ {
		d := r.Next(bad, nil, now.Add(time.Duration(i)*time.Second))
		if !d.Restart || d.Delay != time.Second+125*time.Millisecond {
			t.Fatalf("attempt %d: %+v", i, d)
		}
	}
	if d := r.Next(nil, errors.New("start failed"), now.Add(3*time.Second)); d.Restart || !d.Failed {
		t.Fatalf("exhausted attempts must fail: %+v", d)
	}
	// A new interval grants new attempts.
	r2 := NewRestartTracker(p, structs.JobTypeBatch)
	r2.Next(bad, nil, now)
	r2.Next(bad, nil, now)
	if d := r2.Next(bad, nil, now.Add(2*time.Minute)); !d.Restart {
		t.Fatalf("window did not reset: %+v", d)
	}
}

func TestRestartTrackerDelayMode(t *testing.T) {
	p := &structs.RestartPolicy{Attempts: 1, Interval: time.Minute, Delay: time.Second, Mode: structs.RestartPolicyModeDelay}
	r := NewRestartTracker(p, structs.JobTypeService)
	r.jitter = func() float64 { return 0 }
	now := time.Unix(1000, 0)
	bad := &drivers.ExitResult{Signal: 9}
	if d := r.Next(bad, nil, now); !d.Restart || d.Delay != time.Second {
		t.Fatalf("first: %+v", d)
	}
	d := r.Next(bad, nil, now.Add(10*time.Second))
	if !d.Restart || d.Failed || d.Delay != 50*time.Second {
		t.Fatalf("delay mode must wait out the interval: %+v", d)
	}
	// After the delayed restart the count starts over.
	if d := r.Next(bad, nil, now.Add(61*time.Second)); !d.Restart || d.Delay != time.Second {
		t.Fatalf("after delay: %+v", d)
	}
}

func TestRestartTrackerZeroAttempts(t *testing.T) {
	p := &structs.RestartPolicy{Attempts: 0, Interval: time.Minute, Mode: structs.RestartPolicyModeFail}
	if d := NewRestartTracker(p, structs.JobTypeService).Next(&drivers.ExitResult{ExitCode: 2}, nil, time.Now()); d.Restart || !d.Failed {
		t.Fatalf("%+v", d)
	}
}

func TestDefaultRestartPolicy(t *testing.T) {
	if p := DefaultRestartPolicy(structs.JobTypeBatch); p.Attempts != 3 || p.Interval != 24*time.Hour {
		t.Fatalf("batch default %+v", p)
	}
	if p := DefaultRestartPolicy(structs.JobTypeService); p.Attempts != 2 || p.Interval != 30*time.Minute {
		t.Fatalf("service default %+v", p)
	}
}
