package selector

import "testing"

func TestTried(t *testing.T) {
	var tr Tried
	if tr.Len() != 0 || tr.Has(0) {
		t.Fatal("zero Tried is not empty")
	}
	tr.Add(-1) // Next's "none" must not land in the set
	tr.Add(5)
	tr.Add(5)
	tr.Add(0)
	if tr.Len() != 2 || !tr.Has(5) || !tr.Has(0) || tr.Has(1) || tr.Has(-1) {
		t.Fatalf("after Add(-1, 5, 5, 0): %+v", tr)
	}
	for i := range 2 * MaxAttempts {
		tr.Add(100 + i)
	}
	if tr.Len() != MaxAttempts {
		t.Fatalf("Len() = %d, want capped at %d", tr.Len(), MaxAttempts)
	}
	if !tr.Has(100+MaxAttempts-3) || tr.Has(100+MaxAttempts-2) {
		t.Fatal("capacity: kept the wrong entries")
	}
	var nilTried *Tried
	if nilTried.Has(0) || nilTried.Len() != 0 {
		t.Fatal("nil Tried is not empty")
	}
}
