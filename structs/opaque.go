package structs

import "encoding/json"

// Opaque holds, verbatim, a Nomad job block orch has no model for because
// it needs a system orch does not run (Vault, Consul, Connect, CSI plugins,
// multiregion...). It exists so that such a block arriving as API JSON is
// seen — and refused by jobspec's field-state table — rather than dropped
// by the JSON decoder. A field of type *Opaque is nil when the block is
// null or absent.
type Opaque = json.RawMessage
