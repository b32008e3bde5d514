// A virtual model (smart/cheap) through the official openai npm package: the explanation object
// (a top-level llm_router field, and a choices: [] chunk before [DONE]) must not trouble it.
// smart_test.go runs it. Prints one JSON object.
import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: process.env.ROUTER_BASE_URL,
  apiKey: 'gateway-key',
  maxRetries: 0,
  timeout: 10_000,
});
const messages = [{ role: 'user', content: 'hi' }];
const model = 'smart/cheap';
const out = {};

async function step(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { error: String(e && e.message ? e.message : e) };
  }
}

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

console.log(JSON.stringify(out));
