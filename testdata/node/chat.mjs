// Drives the router with the official openai npm package; node_test.go runs it.
// ROUTER_BASE_URL is the router's OpenAI base URL (with /v1). Prints one JSON object.
import OpenAI from 'openai';
import { step, report } from './steps.mjs';

const client = new OpenAI({
  baseURL: process.env.ROUTER_BASE_URL,
  apiKey: 'gateway-key',
  maxRetries: 0,
  timeout: 10_000,
});
const messages = [{ role: 'user', content: 'hi' }];

await step('plain', async () => {
  const c = await client.chat.completions.create({ model: 'm', messages });
  return { text: c.choices[0].message.content, finish: c.choices[0].finish_reason, usage: c.usage };
});

await step('stream', async () => {
  const s = await client.chat.completions.create({
    model: 'm', messages, stream: true, stream_options: { include_usage: true },
  });
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const chunk of s) {
    chunks++;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, finish, usage, chunks };
});

// The .stream() helper is stricter than the iterator (it rejects data: {} heartbeats).
await step('helper', async () => {
  const runner = client.chat.completions.stream({
    model: 'm', messages, stream_options: { include_usage: true },
  });
  const c = await runner.finalChatCompletion();
  return { text: c.choices[0].message.content, finish: c.choices[0].finish_reason, usage: c.usage };
});

// Model "broken" is served by an upstream that fails after the first event.
await step('broken', async () => {
  let text = '';
  try {
    const s = await client.chat.completions.create({ model: 'broken', messages, stream: true });
    for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? '';
  } catch (e) {
    return { text, error: String(e && e.message ? e.message : e) };
  }
  return { text };
});

// openai-node asks embeddings in base64; the upstream answers with floats anyway.
await step('embedding', async () => {
  const e = await client.embeddings.create({ model: 'm', input: 'hi' });
  return { vector: Array.from(e.data[0].embedding) };
});

report();
