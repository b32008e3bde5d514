// LangChain's ChatOpenAI on the chat API against the router's /v1/chat/completions;
// node_libs_test.go runs it.
import { ChatOpenAI } from '@langchain/openai';
import { run } from './langchain_cases.mjs';

await run((model, think) => new ChatOpenAI({
  model, apiKey: 'gateway-key', configuration: { baseURL: process.env.ROUTER_BASE_URL + '/v1' }, maxRetries: 0,
  useResponsesApi: false, streamUsage: true, ...(think ? { reasoning: { effort: 'low' } } : {}),
}));
