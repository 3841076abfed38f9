package command

// operatorCommands is the `orch operator` table: one entry per group.
func (c *cli) operatorCommands() map[string]func([]string) int {
	return map[string]func([]string) int{
		"gossip":    c.operatorGossip,
		"root":      c.operatorRoot,
		"raft":      c.operatorRaft,
		"autopilot": c.operatorAutopilot,
	}
}
