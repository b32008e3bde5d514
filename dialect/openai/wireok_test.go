package openai

import "github.com/llmrouter/caddy-llm-router/dialect/internal/wire"

func wireOK() wire.Decoder { return wire.Decoder{OK: true} }
