package structs

import "encoding/json"

// DefaultGroupCount is a group's count when the job does not give one.
const DefaultGroupCount = 1

// UnmarshalJSON reads a task group, giving a null or absent Count the
// default of 1. Nomad's API treats them so (the stock CLI sends
// "Count": null for a group without count) while an explicit 0 stays 0;
// once decoded into an int the two would look alike, so the raw field
// decides here, for every path that decodes a job.
func (tg *TaskGroup) UnmarshalJSON(b []byte) error {
	type plain TaskGroup
	var probe struct {
		Count *int `json:"Count"`
	}
	if err := json.Unmarshal(b, (*plain)(tg)); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	if probe.Count == nil {
		tg.Count = DefaultGroupCount
	}
	return nil
}
