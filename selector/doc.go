// Package selector picks the next target of a pool, keeps the cooldown state of targets and
// keys, and classifies upstream outcomes.
//
// It is plain Go with no Caddy imports: the router's handler owns the HTTP side and calls
// Pool.Next, Classify, RetryAfter and State.Cool once per attempt.
//
// Everything here is lock-free. The selection caches rest on one invariant of State: a cooldown
// deadline only ever moves forward, and only once the old one has passed. So when a scan saw
// every member of a range cooling, none of them can be healthy before the earliest deadline it
// saw, and the pool may answer "nobody" without looking again until then.
package selector
