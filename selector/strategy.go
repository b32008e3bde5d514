package selector

import (
	"fmt"
	"strconv"
)

// Strategy is how a pool orders its members.
type Strategy uint8

// The strategies a pool can use.
const (
	// RoundRobin spreads requests evenly over the healthy members. The default.
	RoundRobin Strategy = iota
	// Priority sends every request to the first healthy member in config order, so traffic
	// returns to member 0 as soon as it recovers.
	Priority
	// Weighted spreads requests over the healthy members in proportion to Member.Weight,
	// smoothly interleaved rather than in bursts.
	Weighted
)

var strategyNames = [...]string{RoundRobin: "round_robin", Priority: "priority", Weighted: "weighted"}

// ParseStrategy parses a strategy name as written in the config; "" means round_robin.
func ParseStrategy(s string) (Strategy, error) {
	if s == "" {
		return RoundRobin, nil
	}
	for i, name := range strategyNames {
		if s == name {
			return Strategy(i), nil
		}
	}
	return 0, fmt.Errorf("unknown strategy %q (want round_robin, priority or weighted)", s)
}

// String returns the config name of the strategy.
func (s Strategy) String() string {
	if int(s) < len(strategyNames) {
		return strategyNames[s]
	}
	return "strategy(" + strconv.Itoa(int(s)) + ")"
}
