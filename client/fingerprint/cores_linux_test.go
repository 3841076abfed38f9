package fingerprint

import (
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUsableCoresFollowsAffinity: the reservable cores are the agent's
// affinity mask, not 0..NumCPU-1: restricted to its last core, a thread
// sees that one core only.
func TestUsableCoresFollowsAffinity(t *testing.T) {
	all := usableCores()
	if len(all) != runtime.NumCPU() {
		t.Fatalf("usable cores %v, NumCPU %d", all, runtime.NumCPU())
	}
	done := make(chan []uint16)
	go func() {
		// The thread keeps the narrowed mask and is never unlocked, so
		// the runtime discards it with the goroutine.
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(int(all[len(all)-1]))
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			t.Error(err)
		}
		done <- usableCores()
	}()
	if got := <-done; !slices.Equal(got, all[len(all)-1:]) {
		t.Fatalf("restricted thread sees %v, want %v", got, all[len(all)-1:])
	}
}
