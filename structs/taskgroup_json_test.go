package structs

import (
	"encoding/json"
	"testing"
)

func TestTaskGroupCountNullMeansDefault(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`{"Name":"g","Count":null}`, 1},
		{`{"Name":"g"}`, 1},
		{`{"Name":"g","Count":0}`, 0},
		{`{"Name":"g","Count":5}`, 5},
		{`{"Name":"g","count":3}`, 3},
	} {
		var tg TaskGroup
		if err := json.Unmarshal([]byte(tc.in), &tg); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if tg.Count != tc.want || tg.Name != "g" {
			t.Errorf("%s: Count %d, want %d", tc.in, tg.Count, tc.want)
		}
	}
	var tg TaskGroup
	if err := json.Unmarshal([]byte(`{"Count":"x"}`), &tg); err == nil {
		t.Error("a string count decoded without error")
	}
}

func TestAllocIndex(t *testing.T) {
	for name, want := range map[string]int{"j.g[0]": 0, "j.g[12]": 12, "a.b[c][3]": 3, "j.g": -1, "j.g[]": -1, "j.g[x]": -1} {
		a := &Allocation{Name: name}
		if got := a.Index(); got != want {
			t.Errorf("%q: %d, want %d", name, got, want)
		}
	}
	if AllocName("j", "g", 42) != "j.g[42]" {
		t.Error(AllocName("j", "g", 42))
	}
}
