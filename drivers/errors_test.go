package drivers

import (
	"errors"
	"fmt"
	"testing"
)

func TestNonRecoverable(t *testing.T) {
	if NonRecoverable(nil) != nil {
		t.Fatal("nil wrapped")
	}
	cause := errors.New("user root is denied")
	err := NonRecoverable(cause)
	if !IsNonRecoverable(err) || err.Error() != cause.Error() || !errors.Is(err, cause) {
		t.Fatalf("wrapped %v", err)
	}
	// Context added by callers keeps the mark; wrapping twice is one mark.
	if outer := fmt.Errorf("prestart hook %q failed: %w", "artifacts", err); !IsNonRecoverable(outer) {
		t.Fatalf("lost through %%w: %v", outer)
	}
	if again := NonRecoverable(err); again != err {
		t.Fatalf("double wrap %#v", again)
	}
	if IsNonRecoverable(cause) || IsNonRecoverable(fmt.Errorf("x: %v", err)) {
		t.Fatal("unmarked error reported as non-recoverable")
	}
}
