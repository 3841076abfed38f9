package fingerprint

import "golang.org/x/sys/unix"

// usableCores lists the CPU IDs the agent may run on: its affinity mask,
// which the kernel already intersects with the cgroup's cpuset. Tasks
// reserving cores get cores from this set.
func usableCores() []uint16 {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var out []uint16
	for id := 0; id < len(set)*64 && len(out) < set.Count(); id++ {
		if set.IsSet(id) {
			out = append(out, uint16(id))
		}
	}
	return out
}
