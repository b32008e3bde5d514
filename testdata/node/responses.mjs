// Drives the router's Responses API with the official openai npm package; node_test.go runs it.
// ROUTER_BASE_URL is the router's base URL (with /v1). Prints one JSON object: a tool round
// through responses.create whole, the same round streamed (stream: true, and the
// responses.stream() helper's finalResponse), and a stream that breaks after it began.
import OpenAI from 'openai';
import { step, report } from './steps.mjs';

const client = new OpenAI({
  baseURL: process.env.ROUTER_BASE_URL,
  apiKey: 'gateway-key',
  maxRetries: 0,
  timeout: 10_000,
});
const tools = [{
  type: 'function', name: 'get_weather', description: 'The weather in a city', strict: false,
  parameters: { type: 'object', properties: { city: { type: 'string' } } },
}];
function summary(r) {
  const call = r.output.find((i) => i.type === 'function_call');
  return {
    text: r.output_text, status: r.status, usage: r.usage,
    call: call ? { name: call.name, call_id: call.call_id, arguments: call.arguments } : null,
  };
}

async function round(send) {
  const input = [{ role: 'user', content: 'Weather in Paris?' }];
  const params = { model: 'm', instructions: 'Be brief.', tools, store: false };
  const first = await send({ ...params, input });
  const call = first.output.find((i) => i.type === 'function_call');
  input.push({ type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments });
  input.push({ type: 'function_call_output', call_id: call.call_id, output: '18C' });
  const second = await send({ ...params, input });
  return { first: summary(first), second: summary(second) };
}

// Reads a raw event stream to its response.completed, checking the deltas add up.
async function streamed(p) {
  const s = await client.responses.create({ ...p, stream: true });
  let text = '', final = null;
  for await (const ev of s) {
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.completed') final = ev.response;
  }
  if (!final) throw new Error('no response.completed');
  final.output_text = final.output.filter((i) => i.type === 'message')
    .flatMap((i) => i.content).filter((c) => c.type === 'output_text').map((c) => c.text).join('');
  if (final.output_text !== text) throw new Error(`deltas ${text} != ${final.output_text}`);
  return final;
}

await step('whole', () => round((p) => client.responses.create(p)));
await step('stream', () => round(streamed));
await step('helper', () => round((p) => client.responses.stream(p).finalResponse()));

// Model "broken" is served by an upstream that fails after the first event.
await step('broken', async () => {
  let text = '';
  try {
    const s = await client.responses.create({ model: 'broken', input: 'hi', stream: true });
    for await (const ev of s) {
      if (ev.type === 'response.output_text.delta') text += ev.delta;
    }
  } catch (e) {
    return { text, error: String(e && e.message ? e.message : e) };
  }
  return { text };
});

report();
