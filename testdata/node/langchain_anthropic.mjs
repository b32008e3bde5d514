// LangChain's ChatAnthropic against the router's /v1/messages; node_libs_test.go runs it.
import { ChatAnthropic } from '@langchain/anthropic';
import { run } from './langchain_cases.mjs';

await run((model, think) => new ChatAnthropic({
  model, apiKey: 'gateway-key', anthropicApiUrl: process.env.ROUTER_BASE_URL, maxRetries: 0, maxTokens: 2048,
  ...(think ? { thinking: { type: 'enabled', budget_tokens: 1024 } } : {}),
}));
