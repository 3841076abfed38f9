//go:build unix && !linux

package isolation

import (
	"errors"
	"os"

	"github.com/orch-project/orch/drivers"
)

var errNoTTY = errors.New("terminals for commands in tasks need Linux")

type ttySession struct{}

func newPTY(int, int) (*os.File, *os.File, error) { return nil, nil, errNoTTY }

func serveTTY(*os.File, *drivers.ExecRequest) *ttySession { return &ttySession{} }

func (*ttySession) finish() {}
