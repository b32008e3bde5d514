// Package state holds what the instances of a fleet of routers share: target and key
// cooldowns, gateway-key rate-limit windows, sticky ids (which provider key holds a file, a batch
// or a stored response) and usage counters.
//
// Without a shared backend a router keeps all of it in its own process (the default, in the
// root package and in Memory here). Redis shares it: cooldowns are written once (SET NX PX, so
// the first failure sets the deadline) and published, every instance applies its peers'
// cooldowns to its local state, and reads stay local; rate limits are one Lua call per limited
// request; usage counters are summed locally and flushed on an interval.
//
// Nothing here ever blocks a request on an unreachable Redis for longer than the configured
// timeouts, and cooldown publishes never block at all. Redis keys are built from hashes and
// configured names, never from provider or gateway keys, and every key has a TTL.
//
// The package is plain Go: the Caddy app that configures it lives in the root package.
package state
