// The AI SDK's Google provider against the router's /v1beta/models/...:generateContent and
// :streamGenerateContent; node_libs_test.go runs it.
import { createGoogleGenerativeAI } from '@ai-sdk/google';
import { run } from './aisdk_cases.mjs';

const google = createGoogleGenerativeAI({ baseURL: process.env.ROUTER_BASE_URL + '/v1beta', apiKey: 'gateway-key' });
await run((m) => google(m), { google: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } } });
