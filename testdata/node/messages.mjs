// Drives the router with the official @anthropic-ai/sdk npm package; node_test.go runs it.
// ROUTER_BASE_URL is the router's base URL (without /v1, as Anthropic SDKs take it). Prints one
// JSON object: a whole tool round, the same round through the .stream() helper, and a stream
// that breaks after it began.
import Anthropic from '@anthropic-ai/sdk';
import { step, report } from './steps.mjs';

const client = new Anthropic({
  baseURL: process.env.ROUTER_BASE_URL,
  apiKey: 'gateway-key',
  maxRetries: 0,
  timeout: 10_000,
});
const tools = [{
  name: 'get_weather', description: 'The weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } } },
}];
function summary(m) {
  const text = m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
  const tool = m.content.find((b) => b.type === 'tool_use');
  return { text, stop: m.stop_reason, tool: tool ? { name: tool.name, input: tool.input } : null, usage: m.usage };
}

async function round(send) {
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];
  const first = await send({ model: 'm', max_tokens: 1024, tools, messages });
  const call = first.content.find((b) => b.type === 'tool_use');
  messages.push({ role: 'assistant', content: first.content });
  messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '18C' }] });
  const second = await send({ model: 'm', max_tokens: 1024, tools, messages });
  return { first: summary(first), second: summary(second) };
}

await step('whole', () => round((p) => client.messages.create(p)));
await step('stream', () => round((p) => client.messages.stream(p).finalMessage()));

// Model "broken" is served by an upstream that fails after the first event.
await step('broken', async () => {
  let text = '';
  try {
    const s = client.messages.stream({ model: 'broken', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    s.on('text', (t) => { text += t; });
    await s.finalMessage();
  } catch (e) {
    return { text, error: String(e && e.message ? e.message : e) };
  }
  return { text };
});

report();
