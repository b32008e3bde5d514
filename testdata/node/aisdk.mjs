// Drives the router with the Vercel AI SDK (`ai` + `@ai-sdk/openai`), whose default OpenAI
// provider speaks the Responses API; responses_test.go runs it. ROUTER_BASE_URL is the
// router's OpenAI base URL (with /v1). Prints one JSON object: a tool round whole
// (generateText) and streamed (streamText), and the same through the chat API (openai.chat).
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText, tool, stepCountIs } from 'ai';
import { z } from 'zod';
import { step, report } from './steps.mjs';

const openai = createOpenAI({ baseURL: process.env.ROUTER_BASE_URL, apiKey: 'gateway-key' });
const tools = {
  get_weather: tool({
    description: 'The weather in a city',
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => (city === 'Paris' ? '18C' : 'unknown'),
  }),
};
const common = { prompt: 'Weather in Paris?', tools, stopWhen: stepCountIs(3), maxRetries: 0 };

await step('whole', async () => {
  const r = await generateText({ model: openai('m'), ...common });
  return { text: r.text, steps: r.steps.length, usage: r.totalUsage };
});
await step('stream', async () => {
  const r = streamText({ model: openai('m'), ...common });
  let text = '';
  for await (const t of r.textStream) text += t;
  return { text, steps: (await r.steps).length };
});
await step('chat', async () => {
  const r = await generateText({ model: openai.chat('m'), ...common });
  return { text: r.text, steps: r.steps.length };
});

report();
