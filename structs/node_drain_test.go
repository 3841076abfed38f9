package structs

import (
	"encoding/json"
	"testing"
	"time"
)

// Node event times are RFC 3339 on the wire (Nomad's clients decode them
// as times); states written when they were Unix seconds still decode.
func TestNodeEventTimestamp(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := json.Marshal(&NodeEvent{Message: "m", Timestamp: at, CreateIndex: 7})
	if err != nil {
		t.Fatal(err)
	}
	var back NodeEvent
	if err := json.Unmarshal(b, &back); err != nil || !back.Timestamp.Equal(at) || back.Message != "m" || back.CreateIndex != 7 {
		t.Fatalf("round trip of %s: %+v %v", b, back, err)
	}
	var old NodeEvent
	if err := json.Unmarshal([]byte(`{"Message":"Node registered","Timestamp":1767323045,"CreateIndex":3}`), &old); err != nil ||
		!old.Timestamp.Equal(at) || old.CreateIndex != 3 {
		t.Fatalf("seconds: %+v %v", old, err)
	}
}
