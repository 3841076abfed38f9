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
		return nil, jsonErr(b, err, 0)
	}
	body, base := b, 0
	if raw, ok := probe["Job"]; ok && probe["TaskGroups"] == nil && probe["ID"] == nil {
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, errors.New("parse JSON job: \"Job\" is null")
		}
		body = raw
		base = max(valueOffset(b, "Job"), 0)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var job structs.Job
	if err := dec.Decode(&job); err != nil {
		return nil, jsonErr(b, err, base)
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
	CanonicalizeJSON(&job, body)
	return &job, nil
}

// valueOffset returns where the value of the top-level key starts in the
// object src (the last one when the key repeats, as encoding/json keeps),
// or -1.
func valueOffset(src []byte, key string) int {
	dec := json.NewDecoder(bytes.NewReader(src))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return -1
	}
	found := -1
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return found
		}
		k, _ := t.(string)
		at := int(dec.InputOffset())
		// The ':' after a key is consumed lazily; skip it by hand.
		for at < len(src) && (src[at] == ':' || src[at] == ' ' || src[at] == '\t' || src[at] == '\r' || src[at] == '\n') {
			at++
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return found
		}
		if k == key {
			found = at
		}
	}
	return found
}

// jsonErr adds a line:col position to JSON syntax and type errors; base is
// where the decoded part starts in src.
func jsonErr(src []byte, err error, base int) error {
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
	off += int64(base)
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
