package fault

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The model: each job ID is an independent register holding the job's
// value, or nothing. A register sets it, a deregister (purge) clears it,
// a read returns it. Porcupine checks that some total order of the
// operations, consistent with their real-time order, explains every
// answer; writes whose outcome is unknown may take effect at any point
// after their call, or never.
var jobModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range history {
			k := o.Input.(op).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], o)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		o := input.(op)
		switch o.kind {
		case opRegister:
			return true, o.value
		case opDeregister:
			return true, ""
		}
		return o.value == state.(string), state
	},
	DescribeOperation: func(input, output any) string { return input.(op).String() },
	DescribeState: func(state any) string {
		if state.(string) == "" {
			return "<absent>"
		}
		return state.(string)
	},
}

// checkLinearizable checks the writes together with the reads of the
// given modes. On failure it writes porcupine's visualization to dir and
// returns a description with the operations of the failing key.
func checkLinearizable(ops []op, dir string, modes ...readMode) error {
	var hist []porcupine.Operation
	observed := map[string]bool{}
	for _, o := range ops {
		if o.kind == opRead && containsMode(modes, o.mode) {
			observed[o.key+"="+o.value] = true
		}
	}
	for _, o := range ops {
		if o.kind == opRead && !containsMode(modes, o.mode) {
			continue
		}
		// An outcome-unknown register whose value no read returned
		// changes nothing the check can see: were it applied, no read
		// falls between it and the next write (or the end), so the
		// history is linearizable with it exactly when it is without
		// it. Dropping such writes keeps the search small.
		if o.kind == opRegister && o.unknown() && !observed[o.key+"="+o.value] {
			continue
		}
		hist = append(hist, porcupine.Operation{ClientId: o.worker, Input: o, Call: o.call, Output: nil, Return: o.ret})
	}
	res, info := porcupine.CheckOperationsVerbose(jobModel, hist, 2*time.Minute)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return fmt.Errorf("linearizability check of %d operations timed out", len(hist))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "history (%v reads) is not linearizable", modes)
	if dir != "" {
		name := filepath.Join(dir, "porcupine-"+modeNames(modes)+".html")
		if err := porcupine.VisualizePath(jobModel, info, name); err == nil {
			fmt.Fprintf(&b, " (visualization: %s)", name)
		}
	}
	// Name the keys whose partition fails, with their operations.
	for _, part := range jobModel.Partition(hist) {
		if porcupine.CheckOperations(jobModel, part) {
			continue
		}
		fmt.Fprintf(&b, "\nkey %s:", part[0].Input.(op).key)
		sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		for _, p := range part {
			fmt.Fprintf(&b, "\n  %s", p.Input.(op))
		}
		break
	}
	return fmt.Errorf("%s", b.String())
}

func containsMode(modes []readMode, m readMode) bool {
	for _, x := range modes {
		if x == m {
			return true
		}
	}
	return false
}

func modeNames(modes []readMode) string {
	var s []string
	for _, m := range modes {
		s = append(s, m.String())
	}
	return strings.Join(s, "+")
}

// checkStaleReads checks what ?stale promises: any server may answer
// from a replica that lags, but never with a value nobody wrote, and a
// server's X-Nomad-Index never goes backwards: a read that returned
// before another was sent to the same server carries no higher index.
func checkStaleReads(ops []op) []string {
	written := map[string]map[string]bool{}
	for _, o := range ops {
		if o.kind == opRegister {
			if written[o.key] == nil {
				written[o.key] = map[string]bool{}
			}
			written[o.key][o.value] = true
		}
	}
	var bad []string
	byServer := map[string][]op{}
	for _, o := range ops {
		if o.kind != opRead || (o.mode != readStale && o.mode != readFinal) {
			continue
		}
		if o.value != "" && !written[o.key][o.value] {
			bad = append(bad, fmt.Sprintf("stale read of a value never written: %s", o))
		}
		byServer[o.server] = append(byServer[o.server], o)
	}
	for _, reads := range byServer {
		sort.Slice(reads, func(i, j int) bool { return reads[i].ret < reads[j].ret })
		// highest index among reads that returned before a given call
		var maxIdx uint64
		var maxOp op
		j := 0
		byCall := append([]op(nil), reads...)
		sort.Slice(byCall, func(i, j int) bool { return byCall[i].call < byCall[j].call })
		for _, o := range byCall {
			for j < len(reads) && reads[j].ret < o.call {
				if reads[j].index > maxIdx {
					maxIdx, maxOp = reads[j].index, reads[j]
				}
				j++
			}
			if o.index != 0 && o.index < maxIdx {
				bad = append(bad, fmt.Sprintf("X-Nomad-Index went backwards on %s: %s after %s", o.server, o, maxOp))
			}
		}
	}
	return bad
}

// checkConsistentIndexes checks that ?consistent reads, which are
// linearizable, report indexes that never go backwards in real time,
// whichever server they went through.
func checkConsistentIndexes(ops []op) []string {
	var reads []op
	for _, o := range ops {
		if o.kind == opRead && o.mode == readConsistent {
			reads = append(reads, o)
		}
	}
	byRet := append([]op(nil), reads...)
	sort.Slice(byRet, func(i, j int) bool { return byRet[i].ret < byRet[j].ret })
	sort.Slice(reads, func(i, j int) bool { return reads[i].call < reads[j].call })
	var bad []string
	var maxIdx uint64
	var maxOp op
	j := 0
	for _, o := range reads {
		for j < len(byRet) && byRet[j].ret < o.call {
			if byRet[j].index > maxIdx {
				maxIdx, maxOp = byRet[j].index, byRet[j]
			}
			j++
		}
		if o.index != 0 && o.index < maxIdx {
			bad = append(bad, fmt.Sprintf("consistent read index went backwards: %s after %s", o, maxOp))
		}
	}
	return bad
}

// writeHistory saves the history as text for replay and inspection.
func writeHistory(dir string, ops []op) string {
	sorted := append([]op(nil), ops...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].call < sorted[j].call })
	var b strings.Builder
	for _, o := range sorted {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	p := filepath.Join(dir, "history.txt")
	_ = os.WriteFile(p, []byte(b.String()), 0o644)
	return p
}
