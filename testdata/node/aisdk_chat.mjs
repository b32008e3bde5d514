// The AI SDK's OpenAI provider on the chat API (openai.chat) against the router's
// /v1/chat/completions; node_libs_test.go runs it.
import { createOpenAI } from '@ai-sdk/openai';
import { run } from './aisdk_cases.mjs';

const openai = createOpenAI({ baseURL: process.env.ROUTER_BASE_URL + '/v1', apiKey: 'gateway-key' });
await run((m) => openai.chat(m), { openai: { reasoningEffort: 'low' } });
