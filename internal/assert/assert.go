// Package assert is the few test assertions ssehub's tests share.
package assert

import (
	"errors"
	"reflect"
	"testing"
)

// Equal fails the test now if got != want (compared with reflect.DeepEqual).
func Equal[T any](t testing.TB, name string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %#v, want %#v", name, got, want)
	}
}

// NoError fails the test now if err is not nil.
func NoError(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// ErrorIs fails the test now unless errors.Is(err, target).
func ErrorIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v is not %v", err, target)
	}
}

// True fails the test now if !cond.
func True(t testing.TB, what string, cond bool) {
	t.Helper()
	if !cond {
		t.Fatalf("not true: %s", what)
	}
}
