package core

import (
	"fmt"
	"testing"
	"time"
)

// The helper rests after a window of nearly unbroken work in which Publish
// was paced, and only then: bursts with gaps between them, steady work that
// never needed pacing, and one long fan-out of a single event never make it
// rest.
func TestDutyCycle(t *testing.T) {
	origin := time.Unix(1000, 0)
	at := func(ms float64) time.Time { return origin.Add(time.Duration(ms * float64(time.Millisecond))) }
	var d dutyCycle
	work := func(what string, from, to float64, paced uint64, wantRest bool) {
		t.Helper()
		if got := d.worked(at(from), at(to), paced); got != wantRest {
			t.Fatalf("%s: chunk %v–%v ms, paced %d: rest = %v, want %v", what, from, to, paced, got, wantRest)
		}
	}

	// Unbroken work while Publish is paced now and then: the chunk that
	// closes the window says rest.
	for ms := range 19 {
		work("unbroken, paced", float64(ms), float64(ms+1), uint64(ms/5), false)
	}
	work("unbroken, paced", 19, 20, 4, true)

	// Unbroken work that needed no pacing: a steady load the writers keep
	// up with, or one event to very many streams.
	for ms := range 100 {
		work("unbroken, not paced", 100+float64(ms), 101+float64(ms), 4, false)
	}

	// 5 ms bursts every 20 ms, each paced: a window is a quarter busy.
	for burst := range 10 {
		base := 300 + 20*float64(burst)
		for ms := range 5 {
			work(fmt.Sprintf("burst %d", burst), base+float64(ms), base+float64(ms+1), uint64(5+burst), false)
		}
	}

	// The threshold, from a fresh window: 17 of 20 ms busy rests, 15 does not.
	d = dutyCycle{}
	work("85 %", 1000, 1017, 20, false) // the window is not over yet
	work("85 %", 1020, 1020, 21, true)
	work("75 %", 2000, 2015, 21, false)
	work("75 %", 2020, 2020, 22, false)
	work("after", 2021, 2022, 23, false) // a fresh window
}
