// Package reqbody reads, inspects and rewrites client request bodies without
// decoding them.
//
// Chat requests carry whole conversations (hundreds of KB), but the router
// only needs two top-level fields: "model" to pick a pool and "stream" to pick
// a relay. Scan finds them in one pass that also checks the document is well
// formed, and Rewrite splices the upstream model id into the original bytes,
// so key order, whitespace, number precision and unknown fields reach the
// upstream exactly as the client sent them. ReadLimited (or ReadLeased, with
// the buffer under a Lease) reads the body once under a size cap into a pooled
// buffer that every retry shares. Scan also
// notes the output limits and the parameters some models refuse, so that
// FitTo copies and fits a body to a target only when that target needs it.
//
// The package imports no Caddy code.
package reqbody
