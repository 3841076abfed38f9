package scheduler

import (
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/orch-project/orch/structs"
)

// Device attributes carry units ("4096 MiB"); a device constraint's value
// may use another unit of the same base ("3.5 GiB"), as Nomad's device
// block documents. A unit is a multiplier of its base unit.
type unit struct {
	base string
	mult float64
}

var units = func() map[string]unit {
	m := map[string]unit{}
	add := func(base string, names map[string]float64) {
		for n, v := range names {
			m[n] = unit{base, v}
		}
	}
	bytes := map[string]float64{
		"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15, "EB": 1e18,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50, "EiB": 1 << 60,
	}
	add("byte", bytes)
	rates := map[string]float64{}
	for n, v := range bytes {
		rates[n+"/s"] = v
	}
	add("byte/s", rates)
	add("hertz", map[string]float64{"Hz": 1, "kHz": 1e3, "KHz": 1e3, "MHz": 1e6, "GHz": 1e9})
	add("watt", map[string]float64{"mW": 1e-3, "W": 1, "kW": 1e3, "MW": 1e6, "GW": 1e9})
	return m
}()

// parseAttribute reads a constraint value as Nomad types it: a number with
// an optional known unit, a bool, or else a string.
func parseAttribute(s string) *structs.Attribute {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool {
		return !(unicode.IsDigit(r) || r == '.' || r == '-' || r == '+')
	})
	num, rest := s, ""
	if i >= 0 {
		num, rest = s[:i], strings.TrimSpace(s[i:])
	}
	if num != "" && (rest == "" || knownUnit(rest)) {
		if v, err := strconv.ParseInt(num, 10, 64); err == nil {
			return structs.NewIntAttribute(v, rest)
		}
		if v, err := strconv.ParseFloat(num, 64); err == nil {
			return structs.NewFloatAttribute(v, rest)
		}
	}
	switch s {
	case "true":
		return structs.NewBoolAttribute(true)
	case "false":
		return structs.NewBoolAttribute(false)
	}
	return structs.NewStringAttribute(s)
}

func knownUnit(u string) bool { _, ok := units[u]; return ok }

// numeric returns the attribute's value in its base unit.
func numeric(a *structs.Attribute) (v float64, base string, ok bool) {
	switch {
	case a.IntVal != nil:
		v = float64(*a.IntVal)
	case a.FloatVal != nil:
		v = *a.FloatVal
	default:
		return 0, "", false
	}
	if a.Unit == "" {
		return v, "", true
	}
	u, known := units[a.Unit]
	if !known {
		return v, a.Unit, true
	}
	return v * u.mult, u.base, true
}

// compareAttributes orders a against b: numbers by value after unit
// conversion (a unitless side takes the other side's unit), strings
// lexically, bools only for equality. ok is false when the two cannot be
// compared (different bases, number against string).
func compareAttributes(a, b *structs.Attribute) (cmp int, ok bool) {
	av, abase, an := numeric(a)
	bv, bbase, bn := numeric(b)
	switch {
	case an && bn:
		switch {
		case abase == bbase:
		case abase == "" && a.Unit == "":
			av *= unitMult(b.Unit)
		case bbase == "" && b.Unit == "":
			bv *= unitMult(a.Unit)
		default:
			return 0, false
		}
		return compareFloat(av, bv), true
	case an || bn:
		return 0, false
	case a.StringVal != nil && b.StringVal != nil:
		return strings.Compare(*a.StringVal, *b.StringVal), true
	case a.BoolVal != nil && b.BoolVal != nil:
		if *a.BoolVal == *b.BoolVal {
			return 0, true
		}
		return 1, true
	}
	return 0, false
}

func unitMult(u string) float64 {
	if x, ok := units[u]; ok {
		return x.mult
	}
	return 1
}

// compareFloat treats values within a relative 1e-9 as equal, so "1.5 GiB"
// equals "1536 MiB" despite float rounding.
func compareFloat(a, b float64) int {
	if math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) {
		return 0
	}
	if a < b {
		return -1
	}
	return 1
}

// attrText is the attribute as a plain string, for regexp, version and set
// operators.
func attrText(a *structs.Attribute) string {
	if a.StringVal != nil {
		return *a.StringVal
	}
	return a.String()
}
