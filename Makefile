# The whole test suite, as CI runs it: vet, then every package's tests with
# the race detector (e2e tests build the binary and run real agents).
.PHONY: test build bench
build:
	go build -o orch .

test:
	go vet ./...
	go test -race -count=1 -timeout 45m ./...

bench:
	go test -run '^$$' -bench . -benchtime 10x ./scheduler/
