package catalog

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Capability is one family of endpoints a provider may serve (ProviderConfig.Serves).
type Capability uint16

// The endpoint families. Chat covers every conversational endpoint: chat completions, the
// Messages API, the Responses API (translated, or passed through with responses on) and
// count_tokens.
const (
	CapChat Capability = 1 << iota
	CapCompletions
	CapEmbeddings
	CapImages
	CapAudio
	CapModerations
	CapRerank
	CapFiles
	CapBatches
)

// capabilityNames are the names ProviderConfig.Serves takes, in Capability order.
var capabilityNames = [...]string{"chat", "completions", "embeddings", "images", "audio", "moderations", "rerank", "files", "batches"}

// CapabilityNames lists every name ProviderConfig.Serves accepts.
func CapabilityNames() []string { return append([]string(nil), capabilityNames[:]...) }

// Has reports whether every family of c2 is in c.
func (c Capability) Has(c2 Capability) bool { return c&c2 == c2 }

// Names are c's families by name, in a fixed order.
func (c Capability) Names() []string {
	var out []string
	for i, n := range capabilityNames {
		if c&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// defaultOpenAI is what an `api openai` provider serves unless it says: what every
// OpenAI-compatible server has. openAIEverything is OpenAI's own API (rerank is not OpenAI's).
const (
	defaultOpenAI    = CapChat | CapCompletions | CapEmbeddings
	openAIEverything = defaultOpenAI | CapImages | CapAudio | CapModerations | CapFiles | CapBatches
)

// resolveServes sets p.Serves from pc.Serves, or from the defaults of p's API: chat,
// completions and embeddings for `api openai` and `azure` (everything OpenAI serves when every
// node is api.openai.com), chat alone for `api anthropic`, which may serve nothing else, chat
// and embeddings for `gemini` (Google's embedContent, for Gemini clients), which may serve
// nothing else; `azure` may not serve files or batches (Azure keeps them per resource). The name
// `responses` in the list stands for `responses on`. It runs after p.Responses is resolved.
func resolveServes(pc *ProviderConfig, p *Provider) error {
	if len(pc.Serves) == 0 {
		switch {
		case p.API == APIAnthropic:
			p.Serves = CapChat
		case p.API == APIGemini:
			p.Serves = CapChat | CapEmbeddings
		case allOpenAI(p.Nodes):
			p.Serves = openAIEverything
		default:
			p.Serves = defaultOpenAI
		}
		return nil
	}
	for _, raw := range pc.Serves {
		for _, name := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ' ' }) {
			if name == "responses" {
				if pc.Responses != nil && !*pc.Responses {
					return fmt.Errorf("provider %q: serves responses contradicts responses off", pc.Name)
				}
				if p.API != APIOpenAI {
					return fmt.Errorf("provider %q: serves responses needs api openai", pc.Name)
				}
				p.Responses = true
				p.Serves |= CapChat
				continue
			}
			i := slices.Index(capabilityNames[:], name)
			if i < 0 {
				return fmt.Errorf("provider %q: serves: unknown endpoint family %q; known: %s, responses",
					pc.Name, name, strings.Join(capabilityNames[:], ", "))
			}
			p.Serves |= 1 << i
		}
	}
	if p.API == APIAnthropic && p.Serves != CapChat {
		return fmt.Errorf("provider %q: an api %s provider serves only chat (generation), not %s",
			pc.Name, p.API, strings.Join((p.Serves&^CapChat).Names(), ", "))
	}
	if p.API == APIGemini && p.Serves&^(CapChat|CapEmbeddings) != 0 {
		return fmt.Errorf("provider %q: an api %s provider serves only chat (generation) and embeddings, not %s",
			pc.Name, p.API, strings.Join((p.Serves&^(CapChat|CapEmbeddings)).Names(), ", "))
	}
	if p.API == APIAzure && p.Serves&(CapFiles|CapBatches) != 0 {
		// Azure keeps files and batches per resource, not per deployment: not routed yet.
		return fmt.Errorf("provider %q: files and batches are not served through api azure", pc.Name)
	}
	return nil
}

// allOpenAI reports whether every node is OpenAI's own API.
func allOpenAI(nodes []string) bool { return allOnHost(nodes, "api.openai.com") }

// allOnHost reports whether there are nodes and every one is on host.
func allOnHost(nodes []string, host string) bool {
	for _, n := range nodes {
		u, err := url.Parse(n)
		if err != nil || !strings.EqualFold(u.Hostname(), host) {
			return false
		}
	}
	return len(nodes) > 0
}
