package llmrouter

import (
	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// endpoint describes one API the router serves: the client's dialect, where each kind of
// provider serves it, and how its streams are relayed.
type endpoint struct {
	// openaiPath and anthropicPath are appended to a node's base URL, by the provider's API. An
	// empty path means providers of that API cannot serve the endpoint: their targets are
	// passed over (not tried, not counted).
	openaiPath, anthropicPath string
	// responsesPath is where a provider that serves the Responses API itself
	// (catalog.Provider.Responses) serves the endpoint; "" for every endpoint but that one.
	responsesPath string
	// dialect is the client's: the shape of the request, of the reply it expects, and of the
	// router's own errors and stream error events.
	dialect sse.Dialect
	// includeUsage says the router may ask an OpenAI upstream for a usage chunk
	// (`stream_options.include_usage`): chat and text completions.
	includeUsage bool
	// filter is the endpoint's default stream filter; providers may keep more.
	filter sse.Filter
	// endpointExt says what the endpoints beyond chat need: capability, body and reply kinds,
	// upload limit, sticky ids (endpoints.go).
	endpointExt
}

var (
	chatEndpoint       = &endpoint{openaiPath: "/chat/completions", anthropicPath: "/messages", includeUsage: true}
	completionEndpoint = &endpoint{openaiPath: "/completions", includeUsage: true}
	embeddingEndpoint  = &endpoint{openaiPath: "/embeddings"}
	// messagesEndpoint is Anthropic's Messages API. Its streams keep their event names: the
	// Anthropic SDKs silently skip events without one.
	messagesEndpoint = &endpoint{openaiPath: "/chat/completions", anthropicPath: "/messages",
		dialect: sse.Anthropic, filter: sse.Filter{KeepEventNames: true}}
	// responsesEndpoint is OpenAI's Responses API: passed through to providers that serve it
	// (the provider's responses setting), keeping the stream's event names, which its clients
	// dispatch on; translated through the pivot for every other provider.
	responsesEndpoint = &endpoint{openaiPath: "/chat/completions", anthropicPath: "/messages", responsesPath: "/responses",
		dialect: sse.Responses, filter: sse.Filter{KeepEventNames: true}}
	// countTokensEndpoint is forwarded to Anthropic providers; a pool without one is answered
	// with an estimate (see serveCountEstimate).
	countTokensEndpoint = &endpoint{anthropicPath: "/messages/count_tokens", dialect: sse.Anthropic}
)

// endpointFor returns the endpoint a request path names, or nil. Paths are accepted with and
// without the /v1 prefix, as clients configured with a bare host send the latter.
func endpointFor(path string) *endpoint {
	switch path {
	case "/v1/chat/completions", "/chat/completions":
		return chatEndpoint
	case "/v1/completions", "/completions":
		return completionEndpoint
	case "/v1/embeddings", "/embeddings":
		return embeddingEndpoint
	case "/v1/messages", "/messages":
		return messagesEndpoint
	case "/v1/messages/count_tokens", "/messages/count_tokens":
		return countTokensEndpoint
	case "/v1/responses", "/responses":
		return responsesEndpoint
	}
	return modelEndpoints[path]
}

// pathFor is the endpoint's path at a provider of the given API, or "" when it serves none.
func (ep *endpoint) pathFor(api catalog.API) string {
	if api == catalog.APIAnthropic {
		return ep.anthropicPath
	}
	return ep.openaiPath
}

// pathAt is the endpoint's path at provider p: its Responses API for a Responses request to a
// provider that serves it, else pathFor its API.
func (ep *endpoint) pathAt(p *catalog.Provider) string {
	if ep.responsesPath != "" && p.Responses {
		return ep.responsesPath
	}
	return ep.pathFor(p.API)
}

// native reports whether provider p speaks the client's dialect, so that the request and
// reply pass through with only the model spliced.
func (ep *endpoint) native(p *catalog.Provider) bool {
	switch ep.dialect {
	case sse.Responses:
		return p.Responses
	case sse.Anthropic:
		return p.API == catalog.APIAnthropic
	}
	return p.API != catalog.APIAnthropic
}

// dialectOf is the ingress dialect of a request path: Anthropic's for the Messages API, so
// that even the router's earliest errors (401, 403) come in the shape its clients parse.
func dialectOf(path string) sse.Dialect {
	if ep := endpointFor(path); ep != nil {
		return ep.dialect
	}
	return sse.OpenAI
}

// streamFilter combines the endpoint's defaults with the provider's overrides.
func (ep *endpoint) streamFilter(p *catalog.Provider) sse.Filter {
	f := ep.filter
	f.KeepEventNames = f.KeepEventNames || p.SSEKeepEventNames
	f.KeepComments = f.KeepComments || p.SSEKeepComments
	return f
}
