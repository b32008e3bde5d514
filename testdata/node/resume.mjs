// Drives a router that resumes broken streams with the official openai and @anthropic-ai/sdk
// npm packages; resume_node_test.go runs it. ROUTER_BASE_URL is the router's base URL (without
// /v1). Prints one JSON object: the text each client assembled, and any error it raised.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { step, report } from './steps.mjs';

const base = process.env.ROUTER_BASE_URL;
const openai = new OpenAI({ baseURL: base + '/v1', apiKey: 'gateway-key', maxRetries: 0, timeout: 10_000 });
const anthropic = new Anthropic({ baseURL: base, apiKey: 'gateway-key', maxRetries: 0, timeout: 10_000 });
const messages = [{ role: 'user', content: 'a pangram' }];

// The iterator: every chunk's content, in order.

await step('chatIterator', async () => {
  const stream = await openai.chat.completions.create({ model: 'chat', messages, stream: true });
  let text = '';
  let finish = null;
  const ids = new Set();
  for await (const chunk of stream) {
    ids.add(chunk.id);
    for (const c of chunk.choices) {
      text += c.delta?.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  return { text, finish, ids: [...ids] };
});

// The .stream() helper, which requires one role and assembles the message itself.
await step('chatHelper', async () => {
  const s = openai.chat.completions.stream({ model: 'helper', messages });
  const done = await s.finalChatCompletion();
  return { text: done.choices[0].message.content, finish: done.choices[0].finish_reason, ids: [done.id] };
});

await step('messages', async () => {
  const s = anthropic.messages.stream({ model: 'messages', max_tokens: 100, messages });
  let streamed = '';
  s.on('text', (t) => { streamed += t; });
  const m = await s.finalMessage();
  const text = m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
  return { text, streamed, finish: m.stop_reason, ids: [m.id], blocks: m.content.length };
});

// A pool with no target that can continue: the client must raise the router's error.
await step('refused', async () => {
  let text = '';
  try {
    const stream = await openai.chat.completions.create({ model: 'lonely', messages, stream: true });
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  } catch (e) {
    return { text, error: String(e && e.message ? e.message : e) };
  }
  return { text };
});

report();
