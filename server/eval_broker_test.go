package server

import (
	"context"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

func testEval(id, job string, prio int, idx uint64) *structs.Evaluation {
	return &structs.Evaluation{ID: id, Namespace: "default", JobID: job, Priority: prio, CreateIndex: idx, Status: structs.EvalStatusPending}
}

func dequeue(t *testing.T, b *EvalBroker) (*structs.Evaluation, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e, tok, err := b.Dequeue(ctx)
	if err != nil {
		t.Fatalf("dequeue: %v", err)
	}
	return e, tok
}

func TestBrokerPriorityOrder(t *testing.T) {
	b := NewEvalBroker(time.Minute, 3)
	b.SetEnabled(true)
	b.Enqueue(testEval("low", "a", 10, 1))
	b.Enqueue(testEval("high", "b", 90, 2))
	b.Enqueue(testEval("mid-old", "c", 50, 3))
	b.Enqueue(testEval("mid-new", "d", 50, 4))
	for _, want := range []string{"high", "mid-old", "mid-new", "low"} {
		e, tok := dequeue(t, b)
		if e.ID != want {
			t.Fatalf("got %s, want %s", e.ID, want)
		}
		if err := b.Ack(e.ID, tok); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBrokerOneEvalPerJobAndSupersede(t *testing.T) {
	b := NewEvalBroker(time.Minute, 3)
	var cancelled []*structs.Evaluation
	b.onCancel = func(e []*structs.Evaluation) { cancelled = append(cancelled, e...) }
	b.SetEnabled(true)
	b.Enqueue(testEval("e1", "job", 50, 1))
	b.Enqueue(testEval("e2", "job", 50, 2))
	b.Enqueue(testEval("e3", "job", 50, 3))
	e, tok := dequeue(t, b)
	if e.ID != "e1" {
		t.Fatalf("got %s", e.ID)
	}
	// Nothing else of the job may be handed out while e1 is in flight.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := b.Dequeue(ctx); err == nil {
		t.Fatal("second eval of the same job dequeued while the first is unacked")
	}
	if err := b.Ack(e.ID, tok); err != nil {
		t.Fatal(err)
	}
	e, tok = dequeue(t, b)
	if e.ID != "e3" {
		t.Fatalf("after ack got %s, want the newest e3", e.ID)
	}
	if len(cancelled) != 1 || cancelled[0].ID != "e2" {
		t.Fatalf("cancelled = %v, want e2", cancelled)
	}
	_ = b.Ack(e.ID, tok)
}

func TestBrokerNackRedeliversThenFails(t *testing.T) {
	b := NewEvalBroker(time.Minute, 2)
	var failed *structs.Evaluation
	b.onFail = func(e *structs.Evaluation) { failed = e }
	b.SetEnabled(true)
	b.Enqueue(testEval("e", "job", 50, 1))
	e, tok := dequeue(t, b)
	if err := b.Nack(e.ID, tok); err != nil {
		t.Fatal(err)
	}
	e, tok = dequeue(t, b)
	if e.ID != "e" {
		t.Fatalf("redelivered %s", e.ID)
	}
	if err := b.Ack(e.ID, "wrong-token"); err == nil {
		t.Fatal("ack with a wrong token succeeded")
	}
	if err := b.Nack(e.ID, tok); err != nil {
		t.Fatal(err)
	}
	if failed == nil || failed.ID != "e" {
		t.Fatal("eval past its delivery limit was not failed")
	}
	if r, u, p := b.Stats(); r+u+p != 0 {
		t.Fatalf("broker not empty: %d %d %d", r, u, p)
	}
}

func TestBrokerAckTimeoutRedelivers(t *testing.T) {
	b := NewEvalBroker(30*time.Millisecond, 3)
	b.SetEnabled(true)
	b.Enqueue(testEval("e", "job", 50, 1))
	dequeue(t, b)
	e, _ := dequeue(t, b) // redelivered once the ack deadline passes
	if e.ID != "e" {
		t.Fatalf("got %s", e.ID)
	}
}

func TestBrokerDisableWakesDequeue(t *testing.T) {
	b := NewEvalBroker(time.Minute, 3)
	b.SetEnabled(true)
	errc := make(chan error, 1)
	go func() {
		_, _, err := b.Dequeue(context.Background())
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	b.SetEnabled(false)
	select {
	case err := <-errc:
		if err != ErrBrokerDisabled {
			t.Fatalf("got %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Dequeue did not return when the broker was disabled")
	}
}

func TestBrokerHoldsDelayedEvalsUntilWaitUntil(t *testing.T) {
	b := NewEvalBroker(time.Minute, 3)
	b.SetEnabled(true)
	later := testEval("later", "a", 50, 1)
	later.WaitUntil = time.Now().Add(150 * time.Millisecond)
	sooner := testEval("sooner", "b", 50, 2)
	sooner.WaitUntil = time.Now().Add(50 * time.Millisecond)
	b.Enqueue(later)
	b.Enqueue(sooner)
	b.Enqueue(testEval("now", "c", 10, 3))
	start := time.Now()
	var order []string
	for i := 0; i < 3; i++ {
		e, tok := dequeue(t, b)
		order = append(order, e.ID)
		switch e.ID {
		case "sooner":
			if time.Since(start) < 40*time.Millisecond {
				t.Fatalf("sooner delivered after %s, before its WaitUntil", time.Since(start))
			}
		case "later":
			if time.Since(start) < 140*time.Millisecond {
				t.Fatalf("later delivered after %s, before its WaitUntil", time.Since(start))
			}
		}
		_ = b.Ack(e.ID, tok)
	}
	if order[0] != "now" || order[1] != "sooner" || order[2] != "later" {
		t.Fatalf("delivery order %v", order)
	}
}

func TestBrokerDisableDropsDelayedEvals(t *testing.T) {
	b := NewEvalBroker(time.Minute, 3)
	b.SetEnabled(true)
	e := testEval("d", "a", 50, 1)
	e.WaitUntil = time.Now().Add(20 * time.Millisecond)
	b.Enqueue(e)
	if _, _, p := b.Stats(); p != 1 {
		t.Fatalf("delayed eval not counted: %d", p)
	}
	b.SetEnabled(false)
	time.Sleep(40 * time.Millisecond)
	b.SetEnabled(true)
	if r, u, p := b.Stats(); r+u+p != 0 {
		t.Fatalf("delayed eval survived a leadership change in memory: %d %d %d", r, u, p)
	}
}
