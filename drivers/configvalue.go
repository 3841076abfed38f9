package drivers

import (
	"fmt"
	"math"
)

// StringList reads a list of strings from a decoded driver config value,
// which is []any after JSON decoding and []string when built in Go.
func StringList(v any) ([]string, error) {
	switch l := v.(type) {
	case nil:
		return nil, nil
	case []string:
		return l, nil
	case []any:
		out := make([]string, 0, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %d must be a string, got %T", i, e)
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("must be a list of strings, got %T", v)
	}
}

// String reads an optional string.
func String(v any) (string, error) {
	switch s := v.(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	default:
		return "", fmt.Errorf("must be a string, got %T", v)
	}
}

// Int reads an optional integer (int64 from HCL, float64 from JSON).
func Int(v any) (int64, error) {
	switch n := v.(type) {
	case nil:
		return 0, nil
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, fmt.Errorf("must be an integer, got %v", n)
		}
		return int64(n), nil
	default:
		return 0, fmt.Errorf("must be a number, got %T", v)
	}
}
