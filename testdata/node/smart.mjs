// A virtual model (smart/cheap) through the official openai npm package: the explanation object
// (a top-level llm_router field, and a choices: [] chunk before [DONE]) must not trouble it.
// smart_test.go runs it. Prints one JSON object.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { step, report } from './steps.mjs';

const client = new OpenAI({
  baseURL: process.env.ROUTER_BASE_URL,
  apiKey: 'gateway-key',
  maxRetries: 0,
  timeout: 10_000,
});
const messages = [{ role: 'user', content: 'hi' }];
const model = 'smart/cheap';

await step('plain', async () => {
  const c = await client.chat.completions.create({ model, messages });
  return { text: c.choices[0].message.content, router: c.llm_router?.selected ?? '' };
});

await step('stream', async () => {
  const s = await client.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } });
  let text = '', router = '';
  for await (const chunk of s) {
    for (const c of chunk.choices) text += c.delta?.content ?? '';
    if (chunk.llm_router) router = chunk.llm_router.selected;
  }
  return { text, router };
});

await step('helper', async () => {
  const runner = client.chat.completions.stream({ model, messages, stream_options: { include_usage: true } });
  const c = await runner.finalChatCompletion();
  return { text: c.choices[0].message.content, router: c.llm_router?.selected ?? '' };
});

// The same virtual model for Anthropic's and Google's SDKs (their base URL is the root).
const root = process.env.ROUTER_BASE_URL.replace(/\/v1$/, '');
const anthropic = new Anthropic({ baseURL: root, apiKey: 'gateway-key', maxRetries: 0, timeout: 10_000 });

await step('messages', async () => {
  const m = await anthropic.messages.create({ model, max_tokens: 100, messages });
  return { text: m.content.map((b) => b.text ?? '').join(''), router: m.llm_router?.selected ?? '' };
});

await step('messagesStream', async () => {
  const s = anthropic.messages.stream({ model, max_tokens: 100, messages });
  let router = '';
  s.on('streamEvent', (ev) => { if (ev.type === 'message_delta' && ev.llm_router) router = ev.llm_router.selected; });
  const m = await s.finalMessage();
  return { text: m.content.map((b) => b.text ?? '').join(''), router };
});

const ai = new GoogleGenAI({ apiKey: 'gateway-key', httpOptions: { baseUrl: root } });

await step('gemini', async () => {
  const res = await ai.models.generateContent({ model, contents: 'hi' });
  return { text: res.text ?? '', router: '' };
});

await step('geminiStream', async () => {
  let text = '';
  for await (const chunk of await ai.models.generateContentStream({ model, contents: 'hi' })) text += chunk.text ?? '';
  return { text, router: '' };
});

report();
