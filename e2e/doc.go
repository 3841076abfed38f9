// Package e2e holds end-to-end tests: they build the orch binary, start real
// agents on loopback addresses (127.0.0.x with default ports, one address per
// agent) and drive them through the CLI and the HTTP API.
package e2e
