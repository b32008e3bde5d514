package llmrouter

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
	"github.com/llmrouter/caddy-llm-router/reqbody"
)

// bodyDefaults are a model's default body parameters, prepared: each `"key":value` member
// ready to insert, in key order so bodies are deterministic.
type bodyDefaults struct {
	keys    []string
	members [][]byte
}

// defaultsEndpoint reports whether ep's bodies take defaults: JSON bodies whose parameters
// sit at the top level, OpenAI's chat and completions and Anthropic's messages.
func defaultsEndpoint(ep *endpoint) bool {
	return ep == chatEndpoint || ep == completionEndpoint || ep == messagesEndpoint
}

// prepareDefaults checks and encodes the defaults of every model that has some.
func prepareDefaults(infos []catalog.ModelInfo) (map[string]*bodyDefaults, error) {
	var out map[string]*bodyDefaults
	for _, mi := range infos {
		if len(mi.Defaults) == 0 {
			continue
		}
		d := new(bodyDefaults)
		for k := range mi.Defaults {
			d.keys = append(d.keys, k)
		}
		sort.Strings(d.keys)
		for _, k := range d.keys {
			switch k {
			case "", "model", "stream", "stream_options":
				return nil, fmt.Errorf("model %q: default %q: the router sets it, or it is no parameter", mi.Name, k)
			}
			v := mi.Defaults[k]
			if !json.Valid(v) {
				return nil, fmt.Errorf("model %q: default %q is not a JSON value", mi.Name, k)
			}
			key, _ := json.Marshal(k)
			var compact []byte
			compact = append(compact, key...)
			compact = append(compact, ':')
			compact = append(compact, v...)
			d.members = append(d.members, compact)
		}
		if out == nil {
			out = make(map[string]*bodyDefaults)
		}
		out[mi.Name] = d
	}
	return out, nil
}

// apply inserts the defaults the body lacks at its top level before its closing brace, so
// the model's offsets in f stay valid and no other byte moves. One scan of the top-level
// keys; the body is copied only when something is inserted.
func (d *bodyDefaults) apply(body []byte, f reqbody.Fields) ([]byte, reqbody.Fields) {
	var missing [16]bool
	if len(d.keys) > len(missing) {
		return body, f
	}
	for i := range d.keys {
		missing[i] = true
	}
	jsonscan.Members(body, func(k, _ []byte) bool {
		for i, key := range d.keys {
			if string(k) == key {
				missing[i] = false
			}
		}
		return true
	})
	var add []byte
	for i, m := range d.members {
		if missing[i] {
			add = append(add, ',')
			add = append(add, m...)
		}
	}
	if add == nil || f.End <= 0 || f.End >= len(body) || body[f.End] != '}' {
		return body, f
	}
	out := make([]byte, 0, len(body)+len(add))
	out = append(out, body[:f.End]...)
	out = append(out, add...)
	out = append(out, body[f.End:]...)
	f.End += len(add)
	return out, f
}
