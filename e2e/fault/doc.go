// Package fault is orch's fault-injection harness: it runs servers and
// clients as real processes in network namespaces it creates (a bridge,
// one veth per agent, every name prefixed "harness-"), drives a workload
// of concurrent job writes and reads through different servers while
// nemeses kill, pause, partition and flap them, and checks the recorded
// history for linearizability (porcupine) and the cluster for its
// invariants. See docs/fault-injection.md.
package fault
