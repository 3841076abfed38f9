package drivers

import (
	"reflect"
	"testing"
)

func TestValues(t *testing.T) {
	l, err := StringList([]any{"a", "b"})
	if err != nil || !reflect.DeepEqual(l, []string{"a", "b"}) {
		t.Errorf("StringList: %v %v", l, err)
	}
	if _, err := StringList([]any{"a", 1}); err == nil {
		t.Error("mixed list accepted")
	}
	if n, err := Int(float64(12)); err != nil || n != 12 {
		t.Errorf("Int: %v %v", n, err)
	}
	if _, err := Int(1.5); err == nil {
		t.Error("fraction accepted")
	}
	if _, err := String(3); err == nil {
		t.Error("number accepted as string")
	}
}
