//go:build !race

package llmrouter

const raceEnabled = false
