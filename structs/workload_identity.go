package structs

import "time"

// WorkloadIdentity is a task's (or service's) `identity {}` block: a
// signed token the task gets to prove who it is.
type WorkloadIdentity struct {
	Name         string        `json:"Name"`
	Audience     []string      `json:"Audience"`
	ChangeMode   string        `json:"ChangeMode"`
	ChangeSignal string        `json:"ChangeSignal"`
	Env          bool          `json:"Env"`
	File         bool          `json:"File"`
	Filepath     string        `json:"Filepath"`
	ServiceName  string        `json:"ServiceName"`
	TTL          time.Duration `json:"TTL"`
	ExtraClaims  []string      `json:"ExtraClaims"`
}
