package llmrouter

import (
	"encoding/json"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/transport"
)

// inlineProvider reads the arguments after `provider <name>`, the one-line form:
//
//	provider groq {env.GROQ_API_KEYS} llama-3.3-70b=llama-3.3-70b-versatile
//	provider openrouter {env.OPENROUTER_API_KEY} *
//	provider gemini {env.GEMINI_API_KEY} discover
//	provider ollama *
//
// A placeholder ({env.X}, {file.X}) is a key reference, `*` is `model *`, `discover` turns on
// discovery with its defaults, and anything else is a model: `<public-name>` or
// `<public-name>=<upstream-id>`. A literal key cannot be given inline (it would read as a
// model): use the block's keys. A block may follow.
func inlineProvider(d *caddyfile.Dispenser, p *catalog.ProviderConfig) error {
	for i := 1; d.NextArg(); i++ {
		arg := d.Val()
		switch {
		case strings.HasPrefix(arg, "{") && strings.HasSuffix(arg, "}"):
			p.Keys = append(p.Keys, arg)
		case arg == catalog.Wildcard:
			p.Models = append(p.Models, catalog.ModelRoute{Name: catalog.Wildcard})
		case arg == "discover":
			if p.Discover == nil {
				p.Discover = new(catalog.DiscoverConfig)
			}
		default:
			name, up, _ := strings.Cut(arg, "=")
			if name == "" || strings.Contains(up, "=") {
				return d.Errf("provider '%s': inline argument is not a model name, model=upstream-id, *, discover or a {placeholder} key", p.Name)
			}
			if looksLikeKey(name) {
				// Most likely {$NAME}, which the Caddyfile adapter replaced by the key before
				// this parser ran: as a model name it would be listed on the public /v1/models.
				// The error names the argument's place, never its text.
				return d.Errf("provider '%s': inline argument %d looks like a literal key, which would be served as a model name; "+
					"write keys as {env.NAME} ({$NAME} is replaced by its value when the Caddyfile is read)", p.Name, i)
			}
			mr := catalog.ModelRoute{Name: name}
			if up != "" && up != name {
				mr.Upstream = up
			}
			p.Models = append(p.Models, mr)
		}
	}
	return nil
}

// keyPrefixes start the keys of well-known services (OpenAI and most OpenAI-compatible ones,
// Anthropic, OpenRouter, Groq, xAI, Google, NVIDIA, Cerebras, Perplexity, Fireworks, Hugging
// Face); no model name starts so.
var keyPrefixes = []string{"sk-", "gsk_", "xai-", "AIza", "nvapi-", "csk-", "pplx-", "fw_", "hf_"}

// looksLikeKey reports whether an inline argument is a provider key rather than a model name.
func looksLikeKey(s string) bool {
	for _, p := range keyPrefixes {
		if strings.HasPrefix(s, p) && len(s) >= len(p)+16 {
			return true
		}
	}
	return false
}

// unmarshalDiscover reads `discover [{ ... }]`.
func unmarshalDiscover(d *caddyfile.Dispenser, p *catalog.ProviderConfig) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if p.Discover == nil {
		p.Discover = new(catalog.DiscoverConfig)
	}
	dc := p.Discover
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "include":
			dc.Include, err = appendArgs(d, dc.Include)
		case "exclude":
			dc.Exclude, err = appendArgs(d, dc.Exclude)
		case "prefix":
			dc.Prefix, err = oneArg(d)
		case "interval", "timeout":
			kind := d.Val()
			var dur caddy.Duration
			if dur, err = parseDuration(d); err == nil {
				if kind == "interval" {
					dc.Interval = transport.Duration(dur)
				} else {
					dc.Timeout = transport.Duration(dur)
				}
			}
		case "limit":
			dc.Limit, err = parseInt(d)
		default:
			return d.Errf("unrecognized discover option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unmarshalHealthCheck reads `health_check [{ ... }]`.
func unmarshalHealthCheck(d *caddyfile.Dispenser, p *catalog.ProviderConfig) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if p.HealthCheck == nil {
		p.HealthCheck = new(catalog.HealthCheckConfig)
	}
	hc := p.HealthCheck
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "interval", "timeout":
			kind := d.Val()
			var dur caddy.Duration
			if dur, err = parseDuration(d); err == nil {
				if kind == "interval" {
					hc.Interval = transport.Duration(dur)
				} else {
					hc.Timeout = transport.Duration(dur)
				}
			}
		case "concurrency":
			hc.Concurrency, err = parseInt(d)
		case "path":
			hc.Path, err = oneArg(d)
		default:
			return d.Errf("unrecognized health_check option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unmarshalDefault reads `default <param> <value>` in a model block. The value is JSON: a
// number, true, false, null, or an object or array in backticks; a double-quoted value is a
// string (`default reasoning_effort "low"`).
func unmarshalDefault(d *caddyfile.Dispenser, m *catalog.ModelInfo) error {
	args := d.RemainingArgsAsTokens()
	if len(args) != 2 {
		return d.Err("default takes a body parameter and a JSON value, such as: default max_tokens 1024")
	}
	name, tok := args[0].Text, args[1]
	value := []byte(tok.Text)
	if tok.Quoted() && !strings.HasPrefix(d.ValRaw(), "`") {
		value, _ = json.Marshal(tok.Text)
	}
	if !json.Valid(value) {
		return d.Errf("default %s: not a JSON value; quote strings (\"low\") and put objects in backticks", name)
	}
	if m.Defaults == nil {
		m.Defaults = make(map[string]json.RawMessage)
	}
	if _, dup := m.Defaults[name]; dup {
		return d.Errf("default %s given twice", name)
	}
	m.Defaults[name] = json.RawMessage(value)
	return nil
}
