package ai

import "testing"

func TestUsage(t *testing.T) {
	t.Parallel()
	a := Usage{Input: 10, Output: 5, CachedInput: 4, CacheCreation: 1, Reasoning: 2}
	b := Usage{Input: 3, Output: 7, Reasoning: 1}
	if got, want := a.Add(b), (Usage{Input: 13, Output: 12, CachedInput: 4, CacheCreation: 1, Reasoning: 3}); got != want {
		t.Errorf("Add() = %+v; want %+v", got, want)
	}
	if got, want := a.Max(b), (Usage{Input: 10, Output: 7, CachedInput: 4, CacheCreation: 1, Reasoning: 2}); got != want {
		t.Errorf("Max() = %+v; want %+v", got, want)
	}
	if got := a.Total(); got != 15 {
		t.Errorf("Total() = %d; want 15", got)
	}
	if a.IsZero() || !(Usage{}).IsZero() {
		t.Error("IsZero() wrong")
	}
}
