//go:build race

package llmrouter

// raceEnabled: the race detector slows the code down several times, so time bounds widen.
const raceEnabled = true
