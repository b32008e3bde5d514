// Drives the router with Google's @google/genai npm package; gemini_node_test.go runs it.
// ROUTER_BASE_URL is the router's root (the SDK adds /v1beta/models/...). Prints one JSON
// object: a function call round whole and streamed, a count of tokens, the model list, and an
// unknown model's error.
import { GoogleGenAI } from '@google/genai';
import { step, report } from './steps.mjs';

const ai = new GoogleGenAI({ apiKey: 'gateway-key', httpOptions: { baseUrl: process.env.ROUTER_BASE_URL } });
const config = {
  systemInstruction: 'Be brief.',
  tools: [{ functionDeclarations: [{
    name: 'get_weather', description: 'The weather in a city',
    // The SDK types a schema's counts as strings, as Google's JSON writes int64.
    parameters: { type: 'OBJECT', properties: { city: { type: 'STRING', minLength: '1' } }, required: ['city'] },
  }] }],
};
function turn(res) {
  const cand = res.candidates?.[0];
  return {
    text: res.text ?? '', calls: res.functionCalls ?? [], finish: cand?.finishReason ?? '',
    usage: res.usageMetadata ?? null, content: cand?.content ?? null,
  };
}

// A streamed turn assembled as an app would: every chunk's parts, the last finish and usage.
async function streamTurn(contents) {
  const parts = [];
  let finish = '', usage = null, chunks = 0;
  for await (const chunk of await ai.models.generateContentStream({ model: 'm', contents, config })) {
    chunks++;
    const cand = chunk.candidates?.[0];
    parts.push(...(cand?.content?.parts ?? []));
    if (cand?.finishReason) finish = cand.finishReason;
    if (chunk.usageMetadata) usage = chunk.usageMetadata;
  }
  const text = parts.filter((p) => p.text && !p.thought).map((p) => p.text).join('');
  const calls = parts.filter((p) => p.functionCall).map((p) => p.functionCall);
  return { text, calls, finish, usage, chunks, content: { role: 'model', parts } };
}

async function round(send) {
  const contents = [{ role: 'user', parts: [{ text: 'Weather in Paris?' }] }];
  const first = await send(contents);
  const call = first.calls[0];
  contents.push(first.content, { role: 'user', parts: [{ functionResponse: { name: call.name, id: call.id, response: { result: '18C' } } }] });
  const second = await send(contents);
  delete first.content;
  delete second.content;
  return { first, second };
}

await step('whole', () => round(async (contents) => turn(await ai.models.generateContent({ model: 'm', contents, config }))));
await step('stream', () => round(streamTurn));
await step('count', async () => {
  const r = await ai.models.countTokens({ model: 'm', contents: 'Weather in Paris?' });
  return { total: r.totalTokens };
});
await step('list', async () => {
  const names = [];
  for await (const m of await ai.models.list()) names.push(m.name);
  return { names };
});
await step('unknown', async () => {
  await ai.models.generateContent({ model: 'nope', contents: 'hi' });
  return { ok: true };
});

report();
