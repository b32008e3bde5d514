package llmrouter

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// endpoint describes one API the router serves: the client's dialect, where each kind of
// provider serves it, and how its streams are relayed.
type endpoint struct {
	// openaiPath and anthropicPath are appended to a node's base URL, by the provider's API
	// (for Azure, under its deployment; see upstreamPath). An empty path means providers of
	// that API cannot serve the endpoint: their targets are passed over (not tried, not
	// counted).
	openaiPath, anthropicPath string
	// geminiMethod is the Gemini API method that serves the endpoint, at
	// `<base_url>/models/{id}:<method>`; a streamed generateContent is streamGenerateContent
	// with alt=sse. "" when Gemini providers cannot serve it.
	geminiMethod string
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
	chatEndpoint = &endpoint{openaiPath: "/chat/completions", anthropicPath: "/messages", geminiMethod: "generateContent",
		includeUsage: true}
	completionEndpoint = &endpoint{openaiPath: "/completions", includeUsage: true}
	embeddingEndpoint  = &endpoint{openaiPath: "/embeddings"}
	// messagesEndpoint is Anthropic's Messages API. Its streams keep their event names: the
	// Anthropic SDKs silently skip events without one.
	messagesEndpoint = &endpoint{openaiPath: "/chat/completions", anthropicPath: "/messages", geminiMethod: "generateContent",
		dialect: sse.Anthropic, filter: sse.Filter{KeepEventNames: true}}
	// responsesEndpoint is OpenAI's Responses API: passed through to providers that serve it
	// (the provider's responses setting), keeping the stream's event names, which its clients
	// dispatch on; translated through the pivot for every other provider.
	responsesEndpoint = &endpoint{openaiPath: "/chat/completions", anthropicPath: "/messages", geminiMethod: "generateContent",
		responsesPath: "/responses", dialect: sse.Responses, filter: sse.Filter{KeepEventNames: true}}
	// countTokensEndpoint is forwarded to Anthropic providers; a pool without one is answered
	// with an estimate (see serveCountEstimate).
	countTokensEndpoint = &endpoint{anthropicPath: "/messages/count_tokens", dialect: sse.Anthropic}
	// generateContentEndpoint is Gemini's generateContent and streamGenerateContent: the model
	// and whether it streams are in the URL.
	generateContentEndpoint = &endpoint{openaiPath: "/chat/completions", anthropicPath: "/messages", geminiMethod: "generateContent",
		dialect: sse.Gemini}
	// geminiCountEndpoint is Gemini's countTokens: forwarded to Gemini providers, estimated
	// for a pool without one.
	geminiCountEndpoint = &endpoint{geminiMethod: "countTokens", dialect: sse.Gemini}
	// geminiEmbedEndpoint and geminiBatchEmbedEndpoint are Gemini's embedContent and
	// batchEmbedContents (what Google's SDKs call): passed through to Gemini providers,
	// translated into OpenAI's embeddings for OpenAI-compatible ones.
	geminiEmbedEndpoint = &endpoint{openaiPath: "/embeddings", geminiMethod: "embedContent", dialect: sse.Gemini,
		endpointExt: endpointExt{cap: catalog.CapEmbeddings}}
	geminiBatchEmbedEndpoint = &endpoint{openaiPath: "/embeddings", geminiMethod: "batchEmbedContents", dialect: sse.Gemini,
		endpointExt: endpointExt{cap: catalog.CapEmbeddings}}
)

// route is what a request's path says of it: the endpoint, and for the APIs that name the
// model in the URL (Gemini's `models/{model}:method`, Azure's `deployments/{name}/...`), the
// model and, for Gemini, whether and how it streams.
type route struct {
	ep *endpoint
	// model is the public model named by the path; "" when the body names it.
	model string
	// stream is Gemini's streamGenerateContent; array says it was asked without alt=sse,
	// so the reply is one JSON array written as it comes instead of server-sent events.
	stream, array bool
}

// routeFor returns the route of a request, or ok false for a path the router does not serve
// as a model call. OpenAI and Anthropic paths are accepted with and without the /v1 prefix, as
// clients configured with a bare host send the latter; Azure's v1 API (`/openai/v1/...`) is
// OpenAI's under another prefix, and so is Azure's Responses API (`/openai/responses`, the
// model in the body, no deployment in the path), where Azure clients send responses.create.
func routeFor(r *http.Request) (route, bool) {
	path := r.URL.Path
	if ep := endpointFor(path); ep != nil {
		return route{ep: ep}, true
	}
	if rest, ok := strings.CutPrefix(path, "/openai"); ok {
		if ep := endpointFor(rest); ep != nil && (strings.HasPrefix(rest, "/v1/") || rest == "/responses") {
			return route{ep: ep}, true
		}
		return azureRoute(strings.TrimPrefix(r.URL.EscapedPath(), "/openai"))
	}
	return geminiRoute(r)
}

// endpointFor returns the endpoint an OpenAI, Anthropic or Responses path names, or nil.
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

// azureRoute reads Azure OpenAI's deployment paths (after /openai, still escaped, so that a
// public model with a slash, sent as %2F, stays one segment): the deployment name is the
// public model; the api-version query is accepted, whatever it is.
func azureRoute(escaped string) (route, bool) {
	rest, ok := strings.CutPrefix(escaped, "/deployments/")
	if !ok {
		return route{}, false
	}
	seg, op, ok := strings.Cut(rest, "/")
	name, err := url.PathUnescape(seg)
	if !ok || name == "" || err != nil {
		return route{}, false
	}
	var ep *endpoint
	switch op {
	case "chat/completions":
		ep = chatEndpoint
	case "completions":
		ep = completionEndpoint
	case "embeddings":
		ep = embeddingEndpoint
	default:
		return route{}, false
	}
	return route{ep: ep, model: name}, true
}

// geminiRoute reads Gemini's `/v1beta/models/{model}:{method}` (and /v1/): generateContent,
// streamGenerateContent, countTokens, embedContent and batchEmbedContents. The model may hold slashes (`openrouter/x/y`), so
// the method is what follows the last colon.
func geminiRoute(r *http.Request) (route, bool) {
	rest, ok := cutGeminiModels(r.URL.Path)
	if !ok {
		return route{}, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return route{}, false
	}
	rt := route{model: rest[:i]}
	switch rest[i+1:] {
	case "generateContent":
		rt.ep = generateContentEndpoint
	case "streamGenerateContent":
		rt.ep, rt.stream = generateContentEndpoint, true
		rt.array = r.URL.Query().Get("alt") != "sse"
	case "countTokens":
		rt.ep = geminiCountEndpoint
	case "embedContent":
		rt.ep = geminiEmbedEndpoint
	case "batchEmbedContents":
		rt.ep = geminiBatchEmbedEndpoint
	default:
		return route{}, false
	}
	return rt, true
}

// cutGeminiModels returns what follows `/v1beta/models/` or `/v1/models/` in a path.
func cutGeminiModels(path string) (string, bool) {
	if rest, ok := strings.CutPrefix(path, "/v1beta/models/"); ok {
		return rest, true
	}
	return strings.CutPrefix(path, "/v1/models/")
}

// isGeminiPath reports whether a path is under Gemini's API root, whose clients read errors
// in Gemini's shape.
func isGeminiPath(path string) bool {
	return strings.HasPrefix(path, "/v1beta/")
}

// servedBy reports whether providers of the given API can serve the endpoint.
func (ep *endpoint) servedBy(api catalog.API) bool {
	switch api.Wire() {
	case catalog.APIAnthropic:
		return ep.anthropicPath != ""
	case catalog.APIGemini:
		return ep.geminiMethod != ""
	}
	return ep.openaiPath != ""
}

// pathAt is the endpoint's path under provider p's API root: its Responses API for a
// Responses request to a provider that serves it, else the path of its API's dialect (for
// Gemini and Azure, the part after the model: see upstreamURL).
func (ep *endpoint) pathAt(p *catalog.Provider) string {
	if ep.responsesPath != "" && p.Responses {
		return ep.responsesPath
	}
	if p.API.Wire() == catalog.APIAnthropic {
		return ep.anthropicPath
	}
	return ep.openaiPath
}

// native reports whether provider p speaks the client's dialect, so that the request and
// reply pass through with only the model spliced (for Gemini, not even that: its model is in
// the URL).
func (ep *endpoint) native(p *catalog.Provider) bool {
	switch ep.dialect {
	case sse.Responses:
		return p.Responses
	case sse.Anthropic:
		return p.API == catalog.APIAnthropic
	case sse.Gemini:
		return p.API == catalog.APIGemini
	}
	return p.API.Wire() == catalog.APIOpenAI
}

// dialectOf is the ingress dialect of a request path: Anthropic's for the Messages API,
// Gemini's under /v1beta, so that even the router's earliest errors (401, 403) come in the
// shape the client parses.
func dialectOf(path string) sse.Dialect {
	if ep := endpointFor(path); ep != nil {
		return ep.dialect
	}
	if isGeminiPath(path) {
		return sse.Gemini
	}
	if rest, ok := cutGeminiModels(path); ok && strings.Contains(rest, ":") {
		return sse.Gemini
	}
	return sse.OpenAI
}

// streamFilter combines the endpoint's defaults with the provider's overrides.
func (ep *endpoint) streamFilter(p *catalog.Provider) sse.Filter {
	f := ep.filter
	f.KeepEventNames = f.KeepEventNames || p.SSEKeepEventNames
	f.KeepComments = f.KeepComments || p.SSEKeepComments
	f.ToolCallsFinish = p.StopAfterToolCalls && ep == chatEndpoint
	return f
}
