//go:build race

package reqbody

// raceEnabled: the race detector makes sync.Pool drop Puts at random, so
// tests that observe buffer reuse skip those checks.
const raceEnabled = true
