// The AI SDK's Anthropic provider against the router's /v1/messages; node_libs_test.go runs it.
import { createAnthropic } from '@ai-sdk/anthropic';
import { run } from './aisdk_cases.mjs';

const anthropic = createAnthropic({ baseURL: process.env.ROUTER_BASE_URL + '/v1', apiKey: 'gateway-key' });
await run((m) => anthropic(m), { anthropic: { thinking: { type: 'enabled', budgetTokens: 1024 } } });
