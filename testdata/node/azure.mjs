// Drives the router with the openai npm package's AzureOpenAI client; node_test.go runs it.
// ROUTER_BASE_URL is the router's root: the client adds /openai/deployments/{deployment}/...
// (/openai/responses for responses.create) and the api-version query, and sends the key in
// api-key. Prints one JSON object.
import { AzureOpenAI } from 'openai';
import { step, report } from './steps.mjs';

const client = new AzureOpenAI({
  endpoint: process.env.ROUTER_BASE_URL,
  apiKey: 'gw-secret-team-1',
  apiVersion: '2024-10-21',
  maxRetries: 0,
  timeout: 10_000,
});
const messages = [{ role: 'user', content: 'hi' }];

await step('plain', async () => {
  const c = await client.chat.completions.create({ model: 'gpt-4o', messages });
  return { text: c.choices[0].message.content, finish: c.choices[0].finish_reason };
});

await step('stream', async () => {
  const s = await client.chat.completions.create({
    model: 'gpt-4o', messages, stream: true, stream_options: { include_usage: true },
  });
  let text = '', finish = null, usage = null;
  for await (const chunk of s) {
    for (const c of chunk.choices) {
      text += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, finish, usage };
});

await step('embeddings', async () => {
  const e = await client.embeddings.create({ model: 'gpt-4o', input: 'x' });
  return { n: e.data.length, vector: e.data[0].embedding };
});

// responses.create goes to /openai/responses: Azure's Responses API names no deployment.
await step('responses', async () => {
  const r = await client.responses.create({ model: 'gpt-4o', input: 'hi' });
  return { text: r.output_text, status: r.status };
});

// The deployment fixed in the client (its URL) names the model, whatever the body says.
await step('deployment', async () => {
  const fixed = new AzureOpenAI({
    endpoint: process.env.ROUTER_BASE_URL, apiKey: 'gw-secret-team-1', apiVersion: '2024-10-21',
    deployment: 'gpt-4o', maxRetries: 0,
  });
  const c = await fixed.chat.completions.create({ model: '', messages });
  return { text: c.choices[0].message.content };
});

await step('unknown', async () => {
  await client.chat.completions.create({ model: 'nope', messages });
  return { ok: true };
});

report();
