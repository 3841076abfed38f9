package jobspec

import (
	"errors"
	"fmt"

	"github.com/orch-project/orch/structs"
)

// DriverConfigValidator checks one task's decoded config with the named
// driver's own rules. known is false when no such driver exists (Validate
// reports unknown drivers itself).
type DriverConfigValidator func(driver string, cfg map[string]any) (known bool, err error)

// ValidateDriverConfigs runs check on every task's config and returns every
// problem, joined; each is a *ValidationError whose path names the group
// and task and whose message names the driver. It exists beside Validate
// because jobs arriving as JSON never passed through a driver's schema.
func ValidateDriverConfigs(job *structs.Job, check DriverConfigValidator) error {
	if job == nil || check == nil {
		return nil
	}
	var errs []error
	for _, tg := range job.TaskGroups {
		if tg == nil {
			continue
		}
		for _, t := range tg.Tasks {
			if t == nil || t.Driver == "" {
				continue
			}
			known, err := check(t.Driver, t.Config)
			if !known || err == nil {
				continue
			}
			errs = append(errs, &ValidationError{
				Path: fmt.Sprintf("group %q -> task %q", tg.Name, t.Name),
				Msg:  fmt.Sprintf("invalid %s driver config: %v", t.Driver, err),
			})
		}
	}
	return errors.Join(errs...)
}
