package fault

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// requireStateHashesEqual waits until every server reports its replica
// state at the same index and checks that the hashes agree.
func requireStateHashesEqual(t testing.TB, servers []*agent) {
	t.Helper()
	var last string
	waitFor(t, 60*time.Second, "every replica at one index", func() (bool, string) {
		var first *structs.StateHash
		var got []string
		for _, s := range servers {
			var h structs.StateHash
			if err := getJSON(s.url()+"/v1/operator/state/hash", &h); err != nil {
				return false, err.Error()
			}
			got = append(got, fmt.Sprintf("%s=%s@%d", s.name(), h.Hash[:12], h.Index))
			if first == nil {
				first = &h
				continue
			}
			if h.Index != first.Index {
				return false, strings.Join(got, " ")
			}
			if h.Hash != first.Hash {
				t.Fatalf("replicas at index %d disagree: %s", h.Index, strings.Join(got, " "))
			}
		}
		last = strings.Join(got, " ")
		return true, ""
	})
	if _, bench := t.(*testing.B); !bench {
		t.Logf("replica state hashes agree: %s", last)
	}
}
