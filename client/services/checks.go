package services

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/orch-project/orch/structs"
)

// Default check timings where the job gives none.
const (
	defaultCheckInterval = 10 * time.Second
	defaultCheckTimeout  = 5 * time.Second
	minCheckInterval     = time.Second
)

// CheckID is a check's stable ID within its allocation.
func CheckID(allocID, group, task, service, check string) string {
	h := sha256.Sum256([]byte(allocID + "\x00" + group + "\x00" + task + "\x00" + service + "\x00" + check))
	return hex.EncodeToString(h[:16])
}

// checkName is a check's name, Nomad's default when the job gives none.
func checkName(c *structs.ServiceCheck, service string) string {
	if c.Name != "" {
		return c.Name
	}
	return "service: \"" + service + "\" check"
}

// checkMode is a check's mode from its (or its service's) on_update.
func checkMode(c *structs.ServiceCheck, s *structs.Service) (mode string, ignoreWarnings bool) {
	onUpdate := c.OnUpdate
	if onUpdate == "" {
		onUpdate = s.OnUpdate
	}
	switch onUpdate {
	case "ignore":
		return structs.CheckModeReadiness, false
	case "ignore_warnings":
		return structs.CheckModeHealthiness, true
	}
	return structs.CheckModeHealthiness, false
}

// checkAddress is where an http, tcp or grpc check connects: the node's
// address and the host port of the check's port (its own, or its
// service's), or the service's address when the service sets one and the
// check does not choose a mode.
func checkAddress(c *structs.ServiceCheck, inst *Instance, node *structs.Node, ports []structs.AllocatedPort, allocIP string) (string, error) {
	label := c.PortLabel
	if label == "" {
		label = inst.Service.PortLabel
	}
	mode := c.AddressMode
	if mode == "" {
		mode = AddressModeHost
	}
	address := ""
	if c.AddressMode == "" && inst.Service.Address != "" && inst.Service.AddressMode == AddressModeAuto {
		address = inst.Service.Address
	}
	ip, port, err := serviceAddress(mode, address, label, node, ports, allocIP)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip, strconv.Itoa(port)), nil
}

// checkState applies Consul's thresholds to a check's raw results:
// success_before_passing consecutive passes to become passing,
// failures_before_warning and failures_before_critical consecutive
// failures to become warning or critical; until then the status holds.
type checkState struct {
	status              string
	successes, failures int
	sbp, fbw, fbc       int
}

func newCheckState(c *structs.ServiceCheck) *checkState {
	st := &checkState{status: structs.HealthPending, sbp: c.SuccessBeforePassing, fbc: c.FailuresBeforeCritical, fbw: c.FailuresBeforeWarning}
	switch c.InitialStatus {
	case structs.HealthPassing, structs.HealthWarning, structs.HealthCritical:
		st.status = c.InitialStatus
	}
	if st.fbw == 0 {
		st.fbw = st.fbc
	}
	return st
}

func (s *checkState) observe(health string) string {
	if health == structs.HealthPassing {
		s.failures = 0
		s.successes++
		if s.successes >= s.sbp {
			s.status = structs.HealthPassing
		}
		return s.status
	}
	s.successes = 0
	s.failures++
	switch {
	case health == structs.HealthCritical && s.failures >= s.fbc:
		s.status = structs.HealthCritical
	case s.failures >= s.fbw:
		s.status = structs.HealthWarning
	}
	return s.status
}

// checkRunner runs one check until stopped.
type checkRunner struct {
	id       string
	check    *structs.ServiceCheck
	result   structs.CheckQueryResult
	regID    string
	ignWarn  bool
	probe    probe
	state    *checkState
	allocs   *AllocChecks
	changed  func(regID string)
	restart  *restarter
	interval time.Duration
	timeout  time.Duration
}

func (r *checkRunner) run(ctx context.Context) {
	// A random first delay within the interval spreads many checks out;
	// bounded so a fresh service is judged quickly.
	first := rand.N(min(r.interval, 2*time.Second)/4 + 1)
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.once(ctx)
		t.Reset(r.interval)
	}
}

func (r *checkRunner) once(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, r.timeout)
	res := r.probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return // stopped mid-run: this result says nothing
	}
	health := r.state.observe(res.health)
	out := r.result
	out.Output, out.StatusCode, out.Timestamp = res.output, res.statusCode, time.Now().Unix()
	out.Status = apiStatus(health)
	if r.allocs.set(r.id, &out, health, r.ignWarn) {
		r.changed(r.regID)
	}
	if r.restart != nil {
		r.restart.observe(ctx, health, r.check)
	}
}

// apiStatus maps a health to the check API's status words.
func apiStatus(health string) string {
	switch health {
	case structs.HealthPassing:
		return structs.CheckSuccess
	case structs.HealthPending:
		return structs.CheckPending
	}
	return structs.CheckFailure
}

// restarter is a check's check_restart: after grace, limit consecutive
// unhealthy results (warnings too, unless ignore_warnings) restart the task
// through its restart policy.
type restarter struct {
	limit          int
	grace          time.Duration
	ignoreWarnings bool
	started        time.Time
	count          int
	fired          bool
	restart        func(ctx context.Context, why string)
}

func (r *restarter) observe(ctx context.Context, health string, c *structs.ServiceCheck) {
	if time.Since(r.started) < r.grace {
		return
	}
	unhealthy := health == structs.HealthCritical || health == structs.HealthWarning && !r.ignoreWarnings
	if !unhealthy {
		r.count = 0
		return
	}
	r.count++
	if r.count >= r.limit && !r.fired {
		// Once: the restart stops this runner (the task's Exited hook
		// stops its checks, which waits for this goroutine), so it is
		// asked for off this goroutine; the restarted task gets a new one.
		r.fired = true
		why := "healthcheck: check \"" + c.Name + "\" unhealthy"
		go r.restart(context.WithoutCancel(ctx), why)
	}
}

// AllocChecks holds the latest result of every check of one allocation.
// It implements client/health.Checks: Passing and Changed.
type AllocChecks struct {
	mu      sync.Mutex
	entries map[string]*checkEntry
	changed chan struct{}
	expect  int // healthiness checks that must exist before Passing
}

type checkEntry struct {
	result  *structs.CheckQueryResult
	health  string
	ignWarn bool
	regID   string
}

func newAllocChecks() *AllocChecks {
	return &AllocChecks{entries: map[string]*checkEntry{}, changed: make(chan struct{}, 1)}
}

// add registers a check before its first result (pending or its
// initial_status).
func (a *AllocChecks) add(id, regID string, res *structs.CheckQueryResult, health string, ignWarn bool) {
	a.mu.Lock()
	a.entries[id] = &checkEntry{result: res, health: health, ignWarn: ignWarn, regID: regID}
	a.mu.Unlock()
	a.notify()
}

// set records a result; it reports whether the check's health changed.
func (a *AllocChecks) set(id string, res *structs.CheckQueryResult, health string, ignWarn bool) bool {
	a.mu.Lock()
	e := a.entries[id]
	if e == nil {
		a.mu.Unlock()
		return false // removed meanwhile
	}
	was := e.health
	e.result, e.health, e.ignWarn = res, health, ignWarn
	a.mu.Unlock()
	if was != health {
		a.notify()
		return true
	}
	return false
}

func (a *AllocChecks) remove(ids []string) {
	a.mu.Lock()
	for _, id := range ids {
		delete(a.entries, id)
	}
	a.mu.Unlock()
	a.notify()
}

func (a *AllocChecks) notify() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// Passing reports whether every healthiness check of the allocation
// passes (a warning counts for checks with on_update = "ignore_warnings")
// and all those the job declares for it have been registered (see
// ForHealth); true when it has none.
func (a *AllocChecks) Passing() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, e := range a.entries {
		if e.result.Mode == structs.CheckModeReadiness {
			continue
		}
		n++
		if e.health != structs.HealthPassing && !(e.ignWarn && e.health == structs.HealthWarning) {
			return false
		}
	}
	return n >= a.expect
}

// Changed receives whenever Passing may have changed.
func (a *AllocChecks) Changed() <-chan struct{} { return a.changed }

// Results returns a copy of the latest results by check ID.
func (a *AllocChecks) Results() map[string]*structs.CheckQueryResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]*structs.CheckQueryResult, len(a.entries))
	for id, e := range a.entries {
		r := *e.result
		out[id] = &r
	}
	return out
}

// serviceHealth aggregates the health of a registration's checks: the
// worst of them, pending counting between warning and critical; "" when
// it has none.
func (a *AllocChecks) serviceHealth(regID string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	rank := map[string]int{structs.HealthPassing: 1, structs.HealthWarning: 2, structs.HealthPending: 3, structs.HealthCritical: 4}
	worst := ""
	for _, e := range a.entries {
		if e.regID == regID && rank[e.health] > rank[worst] {
			worst = e.health
		}
	}
	return worst
}

// Store is the client's check results, by allocation.
type Store struct {
	mu     sync.Mutex
	allocs map[string]*AllocChecks
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{allocs: map[string]*AllocChecks{}} }

// Alloc returns the allocation's checks, created empty on first use. It is
// what the deployment-health watcher reads (client/health.Checks).
func (s *Store) Alloc(allocID string) *AllocChecks {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.allocs[allocID]
	if a == nil {
		a = newAllocChecks()
		s.allocs[allocID] = a
	}
	return a
}

// Results returns an allocation's check results (nil when it has none).
func (s *Store) Results(allocID string) map[string]*structs.CheckQueryResult {
	s.mu.Lock()
	a := s.allocs[allocID]
	s.mu.Unlock()
	if a == nil {
		return nil
	}
	return a.Results()
}

// Forget drops an allocation's results (the client forgot it).
func (s *Store) Forget(allocID string) {
	s.mu.Lock()
	delete(s.allocs, allocID)
	s.mu.Unlock()
}

// ForHealth returns an allocation's checks as deployment health reads them
// (client/health.Checks), expecting every healthiness check the job
// declares for the allocation's long-running tasks and group: Passing
// stays false until each of them has been registered and passes, so a
// task that is running before its services are registered is not judged
// healthy for lack of checks.
func (s *Store) ForHealth(alloc *structs.Allocation) *AllocChecks {
	a := s.Alloc(alloc.ID)
	n := expectedChecks(alloc)
	a.mu.Lock()
	a.expect = n
	a.mu.Unlock()
	a.notify()
	return a
}

// expectedChecks counts the healthiness checks of an allocation's
// services: its group's, and those of tasks that run for the allocation's
// life (main tasks and sidecars; services of tasks that finish by design
// come and go).
func expectedChecks(alloc *structs.Allocation) int {
	if alloc.Job == nil {
		return 0
	}
	tg := alloc.Job.LookupTaskGroup(alloc.TaskGroup)
	if tg == nil {
		return 0
	}
	count := func(svcs []*structs.Service) int {
		n := 0
		for _, s := range svcs {
			for _, c := range s.Checks {
				if mode, _ := checkMode(c, s); mode == structs.CheckModeHealthiness {
					n++
				}
			}
		}
		return n
	}
	n := count(tg.Services)
	for _, t := range tg.Tasks {
		if lc := t.Lifecycle; lc != nil && !lc.Sidecar {
			continue
		}
		n += count(t.Services)
	}
	return n
}
