//go:build !race

package reqbody

const raceEnabled = false
