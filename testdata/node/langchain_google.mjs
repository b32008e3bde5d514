// LangChain's ChatGoogleGenerativeAI against the router's /v1beta/models/...:generateContent
// and :streamGenerateContent; node_libs_test.go runs it.
import { ChatGoogleGenerativeAI } from '@langchain/google-genai';
import { run } from './langchain_cases.mjs';

// ChatGoogleGenerativeAI iterates @google/generative-ai's chunks but never awaits its
// aggregated response, so a stream that fails (which the iteration raises) also rejects that
// promise unobserved: without this, Node exits on it.
process.on('unhandledRejection', () => {});

await run((model, think) => new ChatGoogleGenerativeAI({
  model, apiKey: 'gateway-key', baseUrl: process.env.ROUTER_BASE_URL, maxRetries: 0,
  ...(think ? { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } } : {}),
}));
