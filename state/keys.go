package state

import (
	"crypto/sha256"
	"encoding/hex"
)

// Key layout under the prefix (default "llm_router:"). Every key has a TTL.
//
//	cd:t:<target StateID>   a target's cooldown: "<until unix ns> <class>"; TTL: until the deadline
//	cd:k:<key StateID>      a provider key's cooldown, the same
//	rl:<hash>               a gateway key's rpm window (sorted set of admissions); TTL: 61 s
//	st:<kind>:<hash of id>  a sticky id's owner; TTL: the one Put was given
//	usage:<YYYY-MM-DD>      a day's usage counters (hash; and per instance, the number of the
//	                        last flush applied, so a retried one counts once); TTL: usage_retention
//	probe                   the health check's write while Redis refuses commands; TTL: 1 s
//	cooldowns               the pub/sub channel of cooldown starts (a channel, not a key)
const (
	cooldownKeys = "cd:"
	limitKeys    = "rl:"
	stickyKeys   = "st:"
	usageKeys    = "usage:"
	probeKey     = "probe"
	channelName  = "cooldowns"
)

// Hash returns a short stable hash of parts: 32 hex digits of their SHA-256, each part
// terminated by a zero byte so that ("ab","c") and ("a","bc") differ.
func Hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
