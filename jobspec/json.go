package jobspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/orch-project/orch/structs"
)

// maxJSONJobSize bounds a JSON job document.
const maxJSONJobSize = 16 << 20

// ParseJSON decodes a job in Nomad's API JSON form, either wrapped as
// {"Job": {...}} (the register request body) or bare, and applies
// Canonicalize. Fields orch does not model are ignored, so documents the
// Nomad API client produces decode cleanly. Errors name the line and column.
func ParseJSON(b []byte) (*structs.Job, error) {
	if len(b) > maxJSONJobSize {
		return nil, fmt.Errorf("parse JSON job: document larger than %d bytes", maxJSONJobSize)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, jsonErr(b, err)
	}
	body := b
	if raw, ok := probe["Job"]; ok && probe["TaskGroups"] == nil && probe["ID"] == nil {
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, errors.New("parse JSON job: \"Job\" is null")
		}
		body = raw
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var job structs.Job
	if err := dec.Decode(&job); err != nil {
		return nil, jsonErr(body, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("parse JSON job: unexpected data after the job object")
	}
	for i, tg := range job.TaskGroups {
		if tg == nil {
			return nil, fmt.Errorf("parse JSON job: TaskGroups[%d] is null", i)
		}
		for j, t := range tg.Tasks {
			if t == nil {
				return nil, fmt.Errorf("parse JSON job: TaskGroups[%d].Tasks[%d] is null", i, j)
			}
		}
	}
	Canonicalize(&job)
	return &job, nil
}

// jsonErr adds a line:col position to JSON syntax and type errors.
func jsonErr(src []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return fmt.Errorf("parse JSON job: %w", err)
	}
	line, col := 1, 1
	for i := int64(0); i < off && i < int64(len(src)); i++ {
		if src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return fmt.Errorf("parse JSON job: %d:%d: %w", line, col, err)
}
