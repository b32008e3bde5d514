package catalog

import (
	"fmt"
	"sort"
	"strings"
)

// Preset is a known service's settings: what a provider named after it (or with `preset NAME`)
// gets unless it sets them itself.
type Preset struct {
	// BaseURL is the service's API root, to which `/chat/completions` (or `/messages`) is
	// appended.
	BaseURL string
	// API is the wire format the service speaks.
	API API
	// KeyHeader is the header that carries the key; "" for the dialect's default.
	KeyHeader string
	// Keyless says the service needs no key (a local server): none is sent unless keys are set.
	Keyless bool
	// ProbePath is what a health check GETs under the base URL instead of the model list, for
	// a service whose model list answers any key (or none): a probe there would never find a
	// revoked key, and would end its cooldown every interval.
	ProbePath string
}

// presets is the table of known services, one row each. Each row cites the public page that
// documents its OpenAI-compatible (or Anthropic) base URL; "not re-checked" marks a row whose
// page was not read when the table was written (the URL is the well-known one, seen only in
// third-party docs or not looked up). A preset never brings models: list them with `model`, or
// accept any with `model *`.
var presets = map[string]Preset{
	// https://platform.openai.com/docs/api-reference (the API root; not re-checked)
	"openai": {BaseURL: "https://api.openai.com/v1", API: APIOpenAI},
	// https://docs.anthropic.com/en/api/messages (POST https://api.anthropic.com/v1/messages,
	// x-api-key; not re-checked)
	"anthropic": {BaseURL: "https://api.anthropic.com/v1", API: APIAnthropic},
	// https://console.groq.com/docs/openai
	"groq": {BaseURL: "https://api.groq.com/openai/v1", API: APIOpenAI},
	// https://inference-docs.cerebras.ai/resources/openai (not re-checked: seen in third-party
	// docs quoting it)
	"cerebras": {BaseURL: "https://api.cerebras.ai/v1", API: APIOpenAI},
	// https://openrouter.ai/docs/quick-start. OpenRouter's optional attribution headers can be
	// added with `header HTTP-Referer <your-site>` and `header X-Title <your-app>`. Its
	// /models answers without a valid key; GET /key describes the key that calls it, and
	// refuses a bad one (third-party docs and clients; the page not re-checked).
	"openrouter": {BaseURL: "https://openrouter.ai/api/v1", API: APIOpenAI, ProbePath: "/key"},
	// https://api-docs.deepseek.com/ (base_url https://api.deepseek.com; /v1 is an alias)
	"deepseek": {BaseURL: "https://api.deepseek.com", API: APIOpenAI},
	// https://docs.x.ai/api/integrations (OpenAI SDK, baseURL https://api.x.ai/v1)
	"xai": {BaseURL: "https://api.x.ai/v1", API: APIOpenAI},
	// https://docs.mistral.ai/api/ (servers: https://api.mistral.ai/v1; not re-checked)
	"mistral": {BaseURL: "https://api.mistral.ai/v1", API: APIOpenAI},
	// https://docs.together.ai/docs/inference/openai-compatibility
	"together": {BaseURL: "https://api.together.ai/v1", API: APIOpenAI},
	// https://docs.fireworks.ai/tools-sdks/openai-compatibility (not re-checked: seen in
	// third-party docs)
	"fireworks": {BaseURL: "https://api.fireworks.ai/inference/v1", API: APIOpenAI},
	// https://build.nvidia.com/ (NVIDIA API Catalog: NIM endpoints at integrate.api.nvidia.com/v1)
	"nvidia": {BaseURL: "https://integrate.api.nvidia.com/v1", API: APIOpenAI},
	// https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope
	// (international endpoint, seen in third-party docs; Alibaba's Chinese page documents the
	// mainland one, https://dashscope.aliyuncs.com/compatible-mode/v1)
	"dashscope": {BaseURL: "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", API: APIOpenAI},
	// https://platform.kimi.ai/docs/api/overview (international, as quoted by third-party docs;
	// Kimi's Chinese page documents the mainland one, https://api.moonshot.cn/v1)
	"moonshot": {BaseURL: "https://api.moonshot.ai/v1", API: APIOpenAI},
	// https://docs.z.ai/guides/develop/openai/python (Z.ai, international GLM)
	"zai": {BaseURL: "https://api.z.ai/api/paas/v4", API: APIOpenAI},
	// https://docs.bigmodel.cn/cn/guide/develop/openai/introduction (Zhipu, mainland GLM; not
	// re-checked)
	"zhipu": {BaseURL: "https://open.bigmodel.cn/api/paas/v4", API: APIOpenAI},
	// https://platform.minimax.io/docs/api-reference/text-openai-api (international; mainland
	// China is https://api.minimaxi.com/v1)
	"minimax": {BaseURL: "https://api.minimax.io/v1", API: APIOpenAI},
	// https://docs.perplexity.ai/docs/sonar/openai-compatibility (chat/completions is an alias
	// of its Sonar endpoint there)
	"perplexity": {BaseURL: "https://api.perplexity.ai", API: APIOpenAI},
	// https://ai.google.dev/api/generate-content (the native Gemini API: generateContent and
	// streamGenerateContent under /v1beta/models/{id}, key in x-goog-api-key)
	"gemini": {BaseURL: "https://generativelanguage.googleapis.com/v1beta", API: APIGemini},
	// https://ai.google.dev/gemini-api/docs/openai (Gemini through its OpenAI-compatible
	// endpoint, for those who want the OpenAI shape end to end; the page not re-checked)
	"gemini-openai": {BaseURL: "https://generativelanguage.googleapis.com/v1beta/openai", API: APIOpenAI},
	// https://learn.microsoft.com/azure/ai-foundry/openai/reference (no base URL: each
	// resource has its own, https://NAME.openai.azure.com, which base_url must give)
	"azure": {API: APIAzure},
	// https://docs.ollama.com/api/openai-compatibility (local, no key)
	"ollama": {BaseURL: "http://127.0.0.1:11434/v1", API: APIOpenAI, Keyless: true},
	// https://lmstudio.ai/docs/api/openai-api (local server, port 1234, no key by default)
	"lmstudio": {BaseURL: "http://127.0.0.1:1234/v1", API: APIOpenAI, Keyless: true},
	// https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html (vllm serve, port 8000;
	// a key only with --api-key)
	"vllm": {BaseURL: "http://127.0.0.1:8000/v1", API: APIOpenAI, Keyless: true},
	// https://github.com/ggml-org/llama.cpp/tree/master/tools/server (llama-server listens on
	// 127.0.0.1:8080 by default; read on a mirror of its docs)
	"llamacpp": {BaseURL: "http://127.0.0.1:8080/v1", API: APIOpenAI, Keyless: true},
}

// presetAliases are other spellings of a preset's name.
var presetAliases = map[string]string{
	"z.ai":         "zai",
	"glm":          "zai",
	"kimi":         "moonshot",
	"qwen":         "dashscope",
	"nim":          "nvidia",
	"grok":         "xai",
	"llama.cpp":    "llamacpp",
	"google":       "gemini",
	"azure-openai": "azure",
}

// LookupPreset returns the preset of a known service by name or alias (case-insensitive).
func LookupPreset(name string) (Preset, bool) {
	n := strings.ToLower(name)
	if a, ok := presetAliases[n]; ok {
		n = a
	}
	p, ok := presets[n]
	return p, ok
}

// PresetNames returns the known presets' names, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// applyPreset returns pc with its preset's settings where pc left them unset, and whether the
// base URL came from the preset. The preset is pc.Preset when given (unknown: an error), else
// the one named like the provider, if any.
func applyPreset(pc *ProviderConfig) (ProviderConfig, *Preset, error) {
	out := *pc
	name := pc.Preset
	if name == "" {
		name = pc.Name
	}
	ps, ok := LookupPreset(name)
	if !ok {
		if pc.Preset != "" {
			return out, nil, fmt.Errorf("provider %q: unknown preset %q; known presets: %s",
				pc.Name, clip(pc.Preset, 64), strings.Join(PresetNames(), ", "))
		}
		return out, nil, nil
	}
	if len(out.BaseURLs) == 0 {
		if ps.BaseURL == "" {
			return out, nil, fmt.Errorf("provider %q: the %s preset needs base_url (the resource's own URL, such as https://NAME.openai.azure.com)",
				pc.Name, clip(name, 64))
		}
		out.BaseURLs = []string{ps.BaseURL}
	}
	if out.API == "" {
		out.API = string(ps.API)
	}
	if out.KeyHeader == "" {
		out.KeyHeader = ps.KeyHeader
	}
	return out, &ps, nil
}

// clip bounds a string that came from config or a client before it is quoted in an error.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// presetName is the canonical name of the preset pc took, or "".
func presetName(ps *Preset, pc *ProviderConfig) string {
	if ps == nil {
		return ""
	}
	n := pc.Preset
	if n == "" {
		n = pc.Name
	}
	n = strings.ToLower(n)
	if a, ok := presetAliases[n]; ok {
		return a
	}
	return n
}
