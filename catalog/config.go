// Package catalog turns providers, keys and model maps into targets and resolves the model names
// that clients send into pools of targets. It has no Caddy imports: the root package hands it a
// function that resolves key references such as {env.X} and {file.X}.
package catalog

import (
	"encoding/json"

	"github.com/llmrouter/caddy-llm-router/transport"
)

// Config is the catalog content, as written inline in the router's config or in a JSON catalog
// file (see LoadFile). Several configs are merged by Build.
type Config struct {
	// Providers are the upstream services and their keys and models.
	Providers []ProviderConfig `json:"providers,omitempty"`

	// Models carries metadata (description, context length, prices) and a per-model strategy for
	// public model names. A model needs no entry here to be routable: a provider's model map is
	// enough.
	Models []ModelInfo `json:"models,omitempty"`

	// Aliases are public names that stand for a union of other names.
	Aliases []AliasConfig `json:"aliases,omitempty"`
}

// ProviderConfig is one upstream service with its nodes, keys and model map.
type ProviderConfig struct {
	// Name identifies the provider in `provider/model` names, headers, logs and metrics. Required
	// and unique; letters, digits, '-', '_' and '.'.
	Name string `json:"name"`

	// Preset names a known service (see PresetNames: `groq`, `openrouter`, `ollama`, ...) whose
	// base URL, API and key header the provider gets where it does not set them itself. Default:
	// the preset named like the provider, if there is one, so `provider groq` needs no base_url.
	// An unknown preset is an error.
	Preset string `json:"preset,omitempty"`

	// BaseURLs are the provider's nodes: API roots such as `https://api.groq.com/openai/v1`, to
	// which the endpoint path (`/chat/completions`) is appended. Required unless a preset gives
	// one; each node x key x model is a separate target.
	BaseURLs []string `json:"base_urls,omitempty"`

	// Keys are references to API keys, resolved when the config is loaded: write them as
	// `{env.NAME}` or `{file./path}` placeholders. One resolved value may hold several keys
	// separated by spaces, commas or newlines. A literal key works too but then appears in the
	// adapted config and the admin API, so prefer placeholders (and never `{$NAME}`, which the
	// Caddyfile adapter substitutes into the JSON). A provider with neither keys nor keys_file
	// sends no key (local servers such as Ollama); one whose keys all resolve to nothing is
	// skipped with a warning. An entry that reads as an unresolved reference (`$NAME`,
	// `env.NAME`, `{ENV.NAME}`) is a config error.
	Keys []string `json:"keys,omitempty"`

	// KeysFile is the path of a file with one key a line; blank lines and lines starting with '#'
	// are ignored. Placeholders work in the path.
	KeysFile string `json:"keys_file,omitempty"`

	// API is the wire format the provider speaks: `openai` (chat completions, the default),
	// `anthropic` (the Messages API at `<base_url>/messages`), `gemini` (Google's Gemini API at
	// `<base_url>/models/{id}:generateContent`, key in x-goog-api-key) or `azure` (Azure OpenAI:
	// base_url `https://NAME.openai.azure.com`, the upstream model id is the deployment name,
	// key in api-key). Clients of every dialect reach every kind: the router translates where
	// they differ.
	API string `json:"api,omitempty"`

	// APIVersion is the `api-version` query parameter sent to an `api azure` provider's
	// deployments API (`<base_url>/openai/deployments/{deployment}/chat/completions`).
	// `v1` selects Azure's v1 API instead (`<base_url>/openai/v1/chat/completions`, the
	// deployment named in the body's model, no api-version). Default `2024-10-21`.
	APIVersion string `json:"api_version,omitempty"`

	// AnthropicVersion is the `anthropic-version` header sent to an `api anthropic` provider
	// when the client did not send one (Anthropic clients do, and theirs is kept). Default
	// `2023-06-01`.
	AnthropicVersion string `json:"anthropic_version,omitempty"`

	// KeyHeader is the request header that carries the key. Default: `Authorization`, sent as
	// `Bearer <key>`, or `x-api-key` for `api anthropic`. Any header but Authorization carries
	// the bare key.
	KeyHeader string `json:"key_header,omitempty"`

	// Models maps the public model names this provider serves to its own upstream ids. A model
	// named `*` (without an upstream id) lets clients send `<provider>/<any-upstream-id>` and
	// reach that id as is, with the provider's nodes, keys and failover; a bare name never
	// matches it.
	Models []ModelRoute `json:"models,omitempty"`

	// WildcardLimit bounds how many distinct upstream ids clients may reach through `model *`
	// at once: each keeps its own targets and cooldowns. When it is full, the least recently
	// used id that is not cooling is forgotten; when every one is cooling, a new id gets 429.
	// Default 1024.
	WildcardLimit int `json:"wildcard_limit,omitempty"`

	// Headers are sent on every request to this provider (OpenRouter's `HTTP-Referer` and
	// `X-Title`, for example). Values may be placeholders ({env.X}, {file.X}), resolved when the
	// config loads; values are never logged or shown. They may not set the key header, a
	// hop-by-hop header, Host, Content-Length or Content-Type. Default: none.
	Headers map[string]string `json:"headers,omitempty"`

	// Query holds parameters added to the URL of every request to this provider (Azure-style
	// `api-version`, for example). Values may be placeholders, resolved when the config loads,
	// and are never logged or shown. Default: none.
	Query map[string]string `json:"query,omitempty"`

	// Weight is this provider's share under the weighted strategy, relative to other providers
	// in the same pool. Default 1.
	Weight int `json:"weight,omitempty"`

	// Responses says whether the provider serves OpenAI's Responses API (`<base_url>/responses`)
	// itself. A Responses request (`/v1/responses`) to such a provider passes through with
	// only the model swapped, its stored state (previous_response_id, store) included; to any
	// other provider it is translated to chat completions (or, for `api anthropic`, through
	// them to the Messages API), and a request that needs stored state is refused with 400.
	// Default: on for `api openai` providers whose every base URL is on api.openai.com, off
	// otherwise. Only `api openai` providers may turn it on.
	Responses *bool `json:"responses,omitempty"`

	// Serves lists the endpoint families the provider serves: `chat` (chat completions, the
	// Messages API, the Responses API and count_tokens), `completions`, `embeddings`, `images`
	// (generations, edits, variations), `audio` (speech, transcriptions, translations),
	// `moderations`, `rerank` (`<base_url>/rerank`, Cohere/Jina shape), `files` and `batches`;
	// `responses` in the list also turns Responses on. A request goes only to targets whose
	// provider serves its endpoint; a model none of whose providers does gets 400
	// unsupported_endpoint. The list replaces the default. Default: `chat completions
	// embeddings` for `api openai`, everything OpenAI serves (all but rerank) when every base
	// URL is on api.openai.com, `chat` for `api anthropic`, which may serve nothing else, and
	// `chat embeddings` for `api gemini` (Gemini clients' embedContent), which may serve
	// nothing else.
	Serves []string `json:"serves,omitempty"`

	// SSEKeepEventNames keeps `event:` lines in relayed OpenAI-style streams. Default false: they
	// are stripped, as OpenAI clients ignore them and some choke on unusual ones.
	SSEKeepEventNames bool `json:"sse_keep_event_names,omitempty"`

	// SSEKeepComments keeps `:` comment lines (keepalives such as `: OPENROUTER PROCESSING`) in
	// relayed streams. Default false.
	SSEKeepComments bool `json:"sse_keep_comments,omitempty"`

	// Discover fetches the provider's model list (`GET <base_url>/models`, or the dialect's
	// equivalent) when the config loads and on an interval, and serves what it found as public
	// names. A failure keeps the last good list; it never blocks a start or reload for longer
	// than its timeout. Default: off. See DiscoverConfig.
	Discover *DiscoverConfig `json:"discover,omitempty"`

	// HealthCheck probes each node x key of the provider on an interval with a cheap
	// authenticated call (`GET <base_url>/models`), so a revoked key or a dead node is found
	// by the probe, not by a client's request. Default: off. See HealthCheckConfig.
	HealthCheck *HealthCheckConfig `json:"health_check,omitempty"`

	// ResponseHeaderTimeout, FirstEventTimeout and StreamIdleTimeout override the router's
	// timeouts of the same names for this provider (a slow reasoning model, a local server
	// that loads a model on first use). Default: the router's.
	ResponseHeaderTimeout transport.Duration `json:"response_header_timeout,omitempty"`
	FirstEventTimeout     transport.Duration `json:"first_event_timeout,omitempty"`
	StreamIdleTimeout     transport.Duration `json:"stream_idle_timeout,omitempty"`
	// Continuation is how the provider continues a partial assistant answer, which the router
	// asks of it when it resumes another target's broken stream (the handler's resume
	// setting): `anthropic` (a final assistant message is a prefill; api anthropic only),
	// `prefix` (DeepSeek's `"prefix": true` on the final assistant message),
	// `continue_final_message` (vLLM's and others' `continue_final_message: true` with
	// `add_generation_prompt: false`) or `none` (never asked to resume). Default: anthropic for
	// api anthropic, none otherwise.
	Continuation string `json:"continuation,omitempty"`

	// Transport holds the provider's egress settings: proxy, TLS trust and client certificate,
	// HTTP versions (h2c) and connection limits. Default: the proxy from the environment, the
	// system's trusted roots, HTTP/2 over TLS where offered, 256 idle connections per host kept
	// for 90 s.
	Transport *transport.Config `json:"transport,omitempty"`
}

// ModelRoute maps one public model name to a provider's upstream id.
type ModelRoute struct {
	// Name is the public model name clients send. Required.
	Name string `json:"name"`

	// Upstream is the provider's id for the model. Default: the same as Name.
	Upstream string `json:"upstream,omitempty"`
}

// ModelInfo describes a public model for the model list, the catalog page and cost accounting.
type ModelInfo struct {
	// Name is the public model name. Required.
	Name string `json:"name"`

	// Description is a short human text shown in the model catalog.
	Description string `json:"description,omitempty"`

	// ContextLength is the model's context window in tokens, if known.
	ContextLength int `json:"context_length,omitempty"`

	// InputPrice is the price in USD per million input (prompt) tokens.
	InputPrice float64 `json:"input_price,omitempty"`

	// OutputPrice is the price in USD per million output (completion) tokens.
	OutputPrice float64 `json:"output_price,omitempty"`

	// CacheReadPrice and CacheWritePrice are the prices in USD per million input tokens read
	// from, and written to, the provider's prompt cache; 0 when unknown.
	CacheReadPrice  float64 `json:"cache_read_price,omitempty"`
	CacheWritePrice float64 `json:"cache_write_price,omitempty"`

	// MaxOutput is the most tokens the model writes in one reply, if known.
	MaxOutput int `json:"max_output,omitempty"`

	// Supports lists what the model can take or do beyond text: `tools`, `vision`, `audio`,
	// `json_schema`, `reasoning` (another word is a config error). Empty means unknown, not
	// none.
	Supports []string `json:"supports,omitempty"`

	// Strategy overrides the router's target selection strategy for this model:
	// `round_robin`, `priority` or `weighted`.
	Strategy string `json:"strategy,omitempty"`

	// Defaults are body parameters (`max_tokens`, `temperature`, ...) added to a request for
	// this model when the client did not set them at the body's top level: each value is raw
	// JSON, inserted as is without decoding the body. Only JSON request bodies of the
	// OpenAI and Anthropic shapes get them. Default: none.
	Defaults map[string]json.RawMessage `json:"defaults,omitempty"`

	// Tier is the model's class for virtual models (smart routing): `small`, `medium` or
	// `large`. Default: the tier a scorecard gives it, else medium.
	Tier string `json:"tier,omitempty"`
}

// DiscoverConfig is a provider's model discovery.
type DiscoverConfig struct {
	// Include keeps only the upstream ids that match one of these patterns (`*` matches any
	// run of characters, `/` included; `?` one character). Default: every id.
	Include []string `json:"include,omitempty"`

	// Exclude drops the upstream ids that match one of these patterns, after Include.
	Exclude []string `json:"exclude,omitempty"`

	// Prefix is put before each discovered id to make its public name (`or/` makes
	// `or/meta-llama/llama-3.3-70b-instruct`), so that ids of two providers do not clash.
	// Default: none, the public name is the id. A discovered name that a configured model or
	// alias already has stays reachable only as `<provider>/<id>`: the configured one wins.
	Prefix string `json:"prefix,omitempty"`

	// Interval is how often the list is fetched again. Default 1h.
	Interval transport.Duration `json:"interval,omitempty"`

	// Timeout bounds each fetch. When a config loads with no list kept from an earlier load,
	// Provision waits for the first fetch at most this long (the providers' fetches run at
	// once); a fetch that has not answered by then is given up and tried again in the
	// background after at most 30s, as after any failure. A reload that has a list kept serves
	// it at once and fetches only when the interval has passed. Default 5s.
	Timeout transport.Duration `json:"timeout,omitempty"`

	// Limit is the most ids kept from one list. Default 10000, at most 100000: a list is read
	// until it has named 100000 distinct ids, and the rest of its pages are not fetched.
	Limit int `json:"limit,omitempty"`
}

// HealthCheckConfig is a provider's active health check.
type HealthCheckConfig struct {
	// Interval is the time between two probes of each node x key. Default 60s.
	Interval transport.Duration `json:"interval,omitempty"`

	// Timeout bounds one probe. Default 10s.
	Timeout transport.Duration `json:"timeout,omitempty"`

	// Concurrency bounds the probes of this provider in flight at once. Default 4.
	Concurrency int `json:"concurrency,omitempty"`

	// Path is what a probe GETs, under each base URL (`/key`), with the provider's extra
	// query; it must refuse a bad key. Default: the preset's key check where its model list
	// answers any key (OpenRouter: `/key`), else the dialect's model list.
	Path string `json:"path,omitempty"`
}

// AliasConfig is a public name for the union of other names' targets.
type AliasConfig struct {
	// Name is the alias clients send. It must not shadow a public model name.
	Name string `json:"name"`

	// Targets are the names the alias stands for: public model names, `provider/model` names,
	// other aliases, `provider/<id>` of a `model *` provider or discovered models' names, in
	// priority order.
	Targets []string `json:"targets"`

	// Strategy overrides the router's selection strategy for this alias.
	Strategy string `json:"strategy,omitempty"`
}
