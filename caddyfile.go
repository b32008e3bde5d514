package llmrouter

import (
	"math"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/transport"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("llm_router", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("llm_router", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	llm_router {
//	    catalog <path>...                  # JSON catalog files; repeatable
//	    price_file <path>...               # LiteLLM model_prices_and_context_window.json files
//	    max_body <size>                    # default 10MiB
//	    body_timeout <duration>            # default 60s: time to receive the whole body
//	    max_response <size>                # default 32MiB
//	    max_upload <size>                  # multipart uploads (audio, image edits, files); default 25MiB
//	    strategy round_robin|priority|weighted
//	    attempts <n>                       # default 5
//	    try_duration <duration>            # default 60s
//	    cooldown <duration>                # default 60s
//	    max_cooldown <duration>            # default 10m
//	    dial_timeout <duration>            # default 10s
//	    response_header_timeout <duration> # default 5m
//	    first_event_timeout <duration>     # default 30s
//	    stream_idle_timeout <duration>     # default 2m
//	    include_usage
//	    hedge_after <duration>             # hedge a stream with no first event by then; default off
//	    resume <n>                         # resume a broken stream up to n times; default 0: off
//
//	    provider <name> [<key-ref>...] [*] [discover] [<model>[=<upstream-id>]...]   # one line, or:
//	    provider <name> [<inline args>] {
//	        preset <service>               # a known service's base_url, api and key header; default:
//	                                         # the one named like the provider (groq, openrouter, ollama, ...)
//	        base_url <url>...              # repeatable: several nodes; default: the preset's
//	        keys <ref>...                  # {env.X} or {file.X}; one value may hold several keys
//	        keys_file <path>               # one key a line
//	        api openai|anthropic|gemini|azure  # the provider's wire format; default openai
//	        anthropic_version <version>    # api anthropic: when the client sent none; default 2023-06-01
//	        api_version <version>|v1       # api azure: the api-version; v1: Azure's v1 API; default 2024-10-21
//	        key_header <header>            # default Authorization: Bearer <key> (x-api-key for
//	                                         # anthropic, x-goog-api-key for gemini, api-key for azure)
//	        model <public-name> [<upstream-id>]
//	        model *                        # also accept <name>/<any-upstream-id> as is
//	        wildcard_limit <n>             # distinct ids model * keeps at once; default 1024
//	        header <name> <value>          # sent on every request; repeatable; placeholders resolved
//	        query <name> <value>           # added to every request URL; repeatable
//	        weight <n>
//	        responses [on|off]             # serves the Responses API itself; default on for api.openai.com
//	        serves <family>...             # chat completions embeddings images audio moderations rerank
//	                                         # files batches (responses); replaces the default: chat
//	                                         # completions embeddings (all but rerank on api.openai.com;
//	                                         # chat alone for api anthropic)
//	        sse_keep_event_names
//	        sse_keep_comments
//	        discover [{                    # serve the provider's model list (GET <base_url>/models)
//	            include <glob>...          # keep only matching upstream ids (* matches any run)
//	            exclude <glob>...
//	            prefix <text>              # public name = prefix + id; default none
//	            interval <duration>        # default 1h
//	            timeout <duration>         # each fetch; the most a first load waits; default 5s
//	            limit <n>                  # ids kept; default 10000
//	        }]
//	        health_check [{                # probe each node x key with GET <base_url>/models
//	            interval <duration>        # default 60s
//	            timeout <duration>         # default 10s
//	            concurrency <n>            # default 4
//	            path <path>                # what a probe GETs; default the model list (OpenRouter: /key)
//	        }]
//	        response_header_timeout <duration>  # this provider's overrides of the router's timeouts
//	        first_event_timeout <duration>
//	        stream_idle_timeout <duration>
//	        continuation anthropic|prefix|continue_final_message|none  # how it continues a partial
//	                                         # answer when resuming; default anthropic for api
//	                                         # anthropic, none otherwise
//	        transport [http|h1] {          # egress settings; names as in reverse_proxy's transport http
//	                                         # h1: http:// nodes on the router's own HTTP/1.1 client
//	            network_proxy env|none|<url>     # default env: HTTPS_PROXY, HTTP_PROXY, NO_PROXY
//	            tls_trusted_ca_certs <pem-file>...   # trusted in addition to the system's roots
//	            tls_client_auth <cert-file> <key-file>
//	            tls_server_name <name>
//	            tls_insecure_skip_verify         # warned about at every config load
//	            versions 1.1|2|h2c...            # default 1.1 2; h2c: cleartext HTTP/2, not with 1.1
//	            max_conns_per_host <n>           # default 0: no limit
//	            keepalive_idle_conns_per_host <n> # default 256
//	            keepalive <duration>             # idle connection timeout; default 90s
//	        }
//	    }
//
//	    model <public-name> {
//	        description <text>
//	        context_length <tokens>
//	        input_price <usd-per-million>
//	        output_price <usd-per-million>
//	        cache_read_price <usd-per-million>
//	        cache_write_price <usd-per-million>
//	        max_output <tokens>
//	        supports tools|vision|json_schema|reasoning...
//	        default <body-param> <json-value>   # repeatable: max_tokens 1024, temperature 0.2
//	        strategy <strategy>
//	        tier small|medium|large        # for virtual models; default: the scorecard's, else medium
//	    }
//
//	    alias <name> <member>... [{
//	        strategy <strategy>
//	    }]
//
//	    router <virtual-name> {            # a virtual model: picks a model for each request
//	        models <name>...               # candidates; default: every public model
//	        exclude <name>...
//	        optimize cost|latency|quality|balanced|spread   # default balanced
//	        tier auto|small|medium|large   # default auto: inferred from the request
//	        max_price_per_mtok <usd>       # blended price cap; default none
//	        explain on|off                 # the llm_router object in replies; default on
//	    }
//	    smart [{                           # the built-ins smart/cheap, smart/fast, smart/best,
//	                                         # smart/balanced; off unless given
//	        models <name>...
//	        exclude <name>...
//	        tier auto|small|medium|large
//	        explain on|off
//	    }]
//	    scorecard <path>...                # eval results per model and category; repeatable
//
//	    auth {
//	        key <name> <ref> [{
//	            models <name>...
//	            rpm <n>
//	        }]
//	        public <path>...               # default /health /v1/models; "/x/*" is a prefix
//	    }
//	    allow <cidr>...                    # client IP allowlist
//	    status_page <path>                 # HTML health of providers and targets; off by default
//	    models_page <path>                 # HTML model catalog; off by default
//	    cors <origin>...|* [{              # browser pages of these origins may call the router;
//	                                         # off by default; repeatable
//	        allow_headers <name>...        # request headers beyond the SDKs' (always allowed)
//	        max_age <duration>             # how long a browser keeps a preflight; default 2h
//	    }]
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "catalog":
			h.Catalogs, err = appendArgs(d, h.Catalogs)
		case "price_file":
			h.PriceFiles, err = appendArgs(d, h.PriceFiles)
		case "max_body":
			h.MaxBody, err = parseSize(d)
		case "body_timeout":
			h.BodyTimeout, err = parseDuration(d)
		case "max_response":
			h.MaxResponse, err = parseSize(d)
		case "max_upload":
			h.MaxUpload, err = parseSize(d)
		case "strategy":
			h.Strategy, err = oneArg(d)
		case "attempts":
			h.Attempts, err = parseInt(d)
		case "try_duration":
			h.TryDuration, err = parseDuration(d)
		case "cooldown":
			h.Cooldown, err = parseDuration(d)
		case "max_cooldown":
			h.MaxCooldown, err = parseDuration(d)
		case "dial_timeout":
			h.DialTimeout, err = parseDuration(d)
		case "response_header_timeout":
			h.ResponseHeaderTimeout, err = parseDuration(d)
		case "first_event_timeout":
			h.FirstEventTimeout, err = parseDuration(d)
		case "stream_idle_timeout":
			h.StreamIdleTimeout, err = parseDuration(d)
		case "include_usage":
			h.IncludeUsage, err = true, noArgs(d)
		case "hedge_after":
			h.HedgeAfter, err = parseDuration(d)
		case "resume":
			h.Resume, err = parseInt(d)
		case "provider":
			err = h.unmarshalProvider(d)
		case "model":
			err = h.unmarshalModel(d)
		case "alias":
			err = h.unmarshalAlias(d)
		case "router":
			err = h.unmarshalRouter(d)
		case "smart":
			err = h.unmarshalSmart(d)
		case "scorecard":
			h.Scorecards, err = appendArgs(d, h.Scorecards)
		case "auth":
			err = h.unmarshalAuth(d)
		case "allow":
			h.Allow, err = appendArgs(d, h.Allow)
		case "status_page":
			h.StatusPage, err = oneArg(d)
		case "models_page":
			h.ModelsPage, err = oneArg(d)
		case "cors":
			err = h.unmarshalCORS(d)
		default:
			return d.Errf("unrecognized llm_router option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) unmarshalProvider(d *caddyfile.Dispenser) error {
	var p catalog.ProviderConfig
	if !d.NextArg() {
		return d.ArgErr()
	}
	p.Name = d.Val()
	if err := inlineProvider(d, &p); err != nil {
		return err
	}
	for _, other := range h.Providers {
		if other.Name == p.Name {
			return d.Errf("provider '%s' defined twice", p.Name)
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "preset":
			p.Preset, err = oneArg(d)
		case "base_url":
			p.BaseURLs, err = appendArgs(d, p.BaseURLs)
		case "keys":
			p.Keys, err = appendArgs(d, p.Keys)
		case "keys_file":
			p.KeysFile, err = oneArg(d)
		case "api":
			p.API, err = oneArg(d)
		case "anthropic_version":
			p.AnthropicVersion, err = oneArg(d)
		case "api_version":
			p.APIVersion, err = oneArg(d)
		case "key_header":
			p.KeyHeader, err = oneArg(d)
		case "model":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.Errf("model takes a public name and an optional upstream id, got %q", args)
			}
			mr := catalog.ModelRoute{Name: args[0]}
			if len(args) == 2 && args[1] != args[0] {
				mr.Upstream = args[1]
			}
			p.Models = append(p.Models, mr)
		case "wildcard_limit":
			p.WildcardLimit, err = parseInt(d)
		case "header", "query":
			kind := d.Val()
			args := d.RemainingArgs()
			if len(args) != 2 {
				// Never echo the arguments: a value may be a literal secret.
				return d.Errf("%s takes a name and a value, got %d arguments", kind, len(args))
			}
			m := &p.Headers
			if kind == "query" {
				m = &p.Query
			}
			if *m == nil {
				*m = make(map[string]string)
			}
			for k := range *m {
				if strings.EqualFold(k, args[0]) && (kind == "header" || k == args[0]) {
					return d.Errf("provider '%s': %s '%s' given twice", p.Name, kind, args[0])
				}
			}
			(*m)[args[0]] = args[1]
		case "weight":
			p.Weight, err = parseInt(d)
		case "responses":
			p.Responses, err = onOff(d)
		case "serves":
			p.Serves, err = appendArgs(d, p.Serves)
		case "sse_keep_event_names":
			p.SSEKeepEventNames, err = true, noArgs(d)
		case "sse_keep_comments":
			p.SSEKeepComments, err = true, noArgs(d)
		case "discover":
			err = unmarshalDiscover(d, &p)
		case "health_check":
			err = unmarshalHealthCheck(d, &p)
		case "response_header_timeout", "first_event_timeout", "stream_idle_timeout":
			kind := d.Val()
			var dur caddy.Duration
			if dur, err = parseDuration(d); err == nil {
				to := map[string]*transport.Duration{"response_header_timeout": &p.ResponseHeaderTimeout,
					"first_event_timeout": &p.FirstEventTimeout, "stream_idle_timeout": &p.StreamIdleTimeout}[kind]
				*to = transport.Duration(dur)
			}
		case "continuation":
			p.Continuation, err = oneArg(d)
		case "transport":
			if p.Transport != nil {
				return d.Errf("provider '%s': transport given twice", p.Name)
			}
			p.Transport, err = unmarshalTransport(d)
		default:
			return d.Errf("unrecognized provider option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if len(p.BaseURLs) == 0 {
		name := p.Preset
		if name == "" {
			name = p.Name
		}
		if _, ok := catalog.LookupPreset(name); !ok {
			if p.Preset != "" {
				return d.Errf("provider '%s': unknown preset '%s'; known presets: %s", p.Name, p.Preset, strings.Join(catalog.PresetNames(), ", "))
			}
			return d.Errf("provider '%s' needs at least one base_url, or a preset (%s)", p.Name, strings.Join(catalog.PresetNames(), ", "))
		}
	}
	h.Providers = append(h.Providers, p)
	return nil
}

// unmarshalTransport parses a provider's transport block. Its options take the names of
// reverse_proxy's `transport http` options. `http` (net/http, the default, so the argument is
// optional) serves every node; `h1` puts the provider's http:// nodes on the router's own
// HTTP/1.1 client.
func unmarshalTransport(d *caddyfile.Dispenser) (*transport.Config, error) {
	c := new(transport.Config)
	if d.NextArg() {
		switch d.Val() {
		case "http":
		case "h1":
			c.Protocol = "h1"
		default:
			return nil, d.Errf("unknown transport '%s': use http (the default) or h1", d.Val())
		}
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "network_proxy":
			args := d.RemainingArgs()
			switch {
			case len(args) == 1:
				c.NetworkProxy = args[0]
			case len(args) == 2 && args[0] == "url": // reverse_proxy's `network_proxy url <url>`
				c.NetworkProxy = args[1]
			default:
				return nil, d.Err("network_proxy takes env, none or a URL") // never echo: a URL may hold a password
			}
		case "tls_trusted_ca_certs":
			c.TLSTrustedCACerts, err = appendArgs(d, c.TLSTrustedCACerts)
		case "tls_client_auth":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return nil, d.Err("tls_client_auth takes a certificate file and a key file")
			}
			c.TLSClientCertificateFile, c.TLSClientCertificateKeyFile = args[0], args[1]
		case "tls_server_name":
			c.TLSServerName, err = oneArg(d)
		case "tls_insecure_skip_verify":
			c.TLSInsecureSkipVerify, err = true, noArgs(d)
		case "versions":
			c.Versions, err = appendArgs(d, c.Versions)
		case "max_conns_per_host":
			c.MaxConnsPerHost, err = parseInt(d)
		case "keepalive_idle_conns_per_host":
			c.KeepAliveIdleConnsPerHost, err = parseInt(d)
		case "keepalive":
			var dur caddy.Duration
			dur, err = parseDuration(d)
			c.KeepAlive = transport.Duration(dur)
		default:
			return nil, d.Errf("unrecognized transport option '%s'", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	check := *c
	if strings.Contains(check.NetworkProxy, "{") {
		check.NetworkProxy = "" // a placeholder: checked once resolved, when the config loads
	}
	if err := check.Validate(); err != nil {
		return nil, d.Err(err.Error())
	}
	return c, nil
}

func (h *Handler) unmarshalModel(d *caddyfile.Dispenser) error {
	var m catalog.ModelInfo
	if !d.NextArg() {
		return d.ArgErr()
	}
	m.Name = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "description":
			words := d.RemainingArgs()
			if len(words) == 0 {
				return d.ArgErr()
			}
			m.Description = strings.Join(words, " ")
		case "context_length":
			m.ContextLength, err = parseInt(d)
		case "input_price":
			m.InputPrice, err = parseFloat(d)
		case "output_price":
			m.OutputPrice, err = parseFloat(d)
		case "cache_read_price":
			m.CacheReadPrice, err = parseFloat(d)
		case "cache_write_price":
			m.CacheWritePrice, err = parseFloat(d)
		case "max_output":
			m.MaxOutput, err = parseInt(d)
		case "supports":
			m.Supports, err = appendArgs(d, m.Supports)
		case "default":
			err = unmarshalDefault(d, &m)
		case "strategy":
			m.Strategy, err = oneArg(d)
		case "tier":
			m.Tier, err = oneArg(d)
		default:
			return d.Errf("unrecognized model option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	h.Models = append(h.Models, m)
	return nil
}

func (h *Handler) unmarshalAlias(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return d.Errf("alias takes a name and at least one member, got %q", args)
	}
	a := catalog.AliasConfig{Name: args[0], Targets: args[1:]}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "strategy":
			a.Strategy, err = oneArg(d)
		default:
			return d.Errf("unrecognized alias option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	h.Aliases = append(h.Aliases, a)
	return nil
}

func (h *Handler) unmarshalAuth(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if h.Auth == nil {
		h.Auth = new(AuthConfig)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "key":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("key takes a name and a key reference such as {env.ALICE_KEY}, got %d arguments", len(args)) // never echo them: one may be a literal key
			}
			k := GatewayKey{Name: args[0], Key: args[1]}
			for n := d.Nesting(); d.NextBlock(n); {
				switch d.Val() {
				case "models":
					k.Models, err = appendArgs(d, k.Models)
				case "rpm":
					k.RPM, err = parseInt(d)
				default:
					return d.Errf("unrecognized key option '%s'", d.Val())
				}
				if err != nil {
					return err
				}
			}
			h.Auth.Keys = append(h.Auth.Keys, k)
		case "public":
			h.Auth.Public, err = appendArgs(d, h.Auth.Public)
		default:
			return d.Errf("unrecognized auth option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unmarshalCORS reads `cors <origin>... [{ ... }]`; a second cors line adds origins.
func (h *Handler) unmarshalCORS(d *caddyfile.Dispenser) error {
	if h.CORS == nil {
		h.CORS = new(CORSConfig)
	}
	var err error
	if h.CORS.Origins, err = appendArgs(d, h.CORS.Origins); err != nil {
		return d.Err("cors takes the origins whose pages may call the router (https://chat.example.com), or *")
	}
	for _, o := range h.CORS.Origins {
		if o == "*" || strings.Contains(o, "{") {
			continue // a placeholder is checked once resolved, when the config loads
		}
		if _, err := parseOrigin(o); err != nil {
			return d.Errf("cors: origin '%s': %v", o, err)
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "allow_headers":
			h.CORS.AllowHeaders, err = appendArgs(d, h.CORS.AllowHeaders)
		case "max_age":
			h.CORS.MaxAge, err = parseDuration(d)
		default:
			return d.Errf("unrecognized cors option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func appendArgs(d *caddyfile.Dispenser, to []string) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	return append(to, args...), nil
}

func oneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return v, nil
}

func noArgs(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func parseInt(d *caddyfile.Dispenser) (int, error) {
	name := d.Val()
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, d.Errf("%s: '%s' is not a whole number >= 0", name, s)
	}
	return n, nil
}

func parseFloat(d *caddyfile.Dispenser) (float64, error) {
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, d.Errf("'%s' is not a number >= 0", s)
	}
	return f, nil
}

func parseSize(d *caddyfile.Dispenser) (int64, error) {
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > 1<<40 {
		return 0, d.Errf("bad size '%s': use a size such as 10MiB", s)
	}
	return int64(n), nil
}

func parseDuration(d *caddyfile.Dispenser) (caddy.Duration, error) {
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 {
		return 0, d.Errf("bad duration '%s': use a duration such as 30s", s)
	}
	return caddy.Duration(dur), nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)

// onOff reads a flag with an optional on|off argument (bare: on).
func onOff(d *caddyfile.Dispenser) (*bool, error) {
	v := true
	if d.NextArg() {
		switch d.Val() {
		case "on":
		case "off":
			v = false
		default:
			return nil, d.Errf("'%s' takes on or off, not '%s'", "responses", d.Val())
		}
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	return &v, nil
}
