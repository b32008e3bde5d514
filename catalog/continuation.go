package catalog

import "fmt"

// How a provider continues a partial assistant answer (Provider.Continuation), for the
// router's resuming of a broken stream.
const (
	// ContinueNone: the provider is never asked to continue another's answer.
	ContinueNone = "none"
	// ContinueAnthropic: a final assistant message is a prefill that the model continues
	// (Anthropic's Messages API).
	ContinueAnthropic = "anthropic"
	// ContinuePrefix: the final assistant message carries `"prefix": true` (DeepSeek).
	ContinuePrefix = "prefix"
	// ContinueFinalMessage: the request carries `continue_final_message: true` and
	// `add_generation_prompt: false` (vLLM, SGLang and other OpenAI-compatible servers).
	ContinueFinalMessage = "continue_final_message"
)

// continuation resolves a provider's continuation setting against its API.
func continuation(pc *ProviderConfig, api API) (string, error) {
	switch pc.Continuation {
	case "":
		if api == APIAnthropic {
			return ContinueAnthropic, nil
		}
		return ContinueNone, nil
	case ContinueNone:
		return ContinueNone, nil
	case ContinueAnthropic:
		if api != APIAnthropic {
			return "", fmt.Errorf("provider %q: continuation anthropic needs api anthropic", pc.Name)
		}
		return ContinueAnthropic, nil
	case ContinuePrefix, ContinueFinalMessage:
		if api.Wire() != APIOpenAI {
			return "", fmt.Errorf("provider %q: continuation %s needs an OpenAI-compatible api", pc.Name, pc.Continuation)
		}
		return pc.Continuation, nil
	}
	return "", fmt.Errorf("provider %q: continuation must be anthropic, prefix, continue_final_message or none, not %q",
		pc.Name, clip(pc.Continuation, 64))
}
