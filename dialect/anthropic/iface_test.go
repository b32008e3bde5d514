package anthropic

import "github.com/llmrouter/caddy-llm-router/dialect"

var (
	_ dialect.StreamTranslator = (*StreamToOpenAI)(nil)
	_ dialect.StreamTranslator = (*StreamFromOpenAI)(nil)
	_ dialect.PromptTaker      = (*StreamFromOpenAI)(nil)
)
