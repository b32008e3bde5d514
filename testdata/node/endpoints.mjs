// Drives the router's endpoints beyond chat with the official openai npm package; node_test.go
// (TestNodeEndpoints) runs it against fakes and checks what they received. ROUTER_BASE_URL is
// the router's base URL (with /v1). Prints one JSON object: what the SDK returned for each call.
import OpenAI, { toFile } from 'openai';
import { step, report } from './steps.mjs';

const base = process.env.ROUTER_BASE_URL;
const client = new OpenAI({ baseURL: base, apiKey: 'gateway-key', maxRetries: 0, timeout: 10_000 });
// Bytes that a text round trip would break: NUL, invalid UTF-8, CRLF and a fake boundary.
const upload = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe, 0x0d, 0x0a, 0x2d, 0x2d, 0x78, 0x0d, 0x0a, 0x41]);
const b64 = (buf) => Buffer.from(buf).toString('base64');

await step('imageGenerate', async () => {
  const r = await client.images.generate({ model: 'img', prompt: 'a cat', n: 1 });
  return { b64: r.data[0].b64_json };
});
await step('imageEdit', async () => {
  const r = await client.images.edit({ model: 'img', prompt: 'add a hat', image: await toFile(upload, 'cat.png', { type: 'image/png' }) });
  return { b64: r.data[0].b64_json };
});
await step('imageVariation', async () => {
  const r = await client.images.createVariation({ model: 'img', image: await toFile(upload, 'cat.png', { type: 'image/png' }) });
  return { b64: r.data[0].b64_json };
});
await step('speech', async () => {
  const r = await client.audio.speech.create({ model: 'tts', voice: 'alloy', input: 'Hello' });
  return { audio: b64(await r.arrayBuffer()), type: r.headers.get('content-type') };
});
await step('transcription', async () => {
  const r = await client.audio.transcriptions.create({ model: 'stt', file: await toFile(upload, 'a.wav'), language: 'en' });
  return { text: r.text };
});
await step('transcriptionText', async () => {
  const r = await client.audio.transcriptions.create({ model: 'stt', file: await toFile(upload, 'a.wav'), response_format: 'text' });
  return { text: r };
});
await step('translation', async () => {
  const r = await client.audio.translations.create({ model: 'stt', file: await toFile(upload, 'a.wav') });
  return { text: r.text };
});
await step('moderation', async () => {
  const r = await client.moderations.create({ model: 'mod', input: 'I am fine' });
  return { flagged: r.results[0].flagged, model: r.model };
});
// openai-node has no rerank call: a plain fetch, as Cohere/Jina clients do.
await step('rerank', async () => {
  const r = await fetch(base + '/rerank', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer gateway-key' },
    body: JSON.stringify({ model: 'rr', query: 'capital of France', documents: ['Berlin', 'Paris'] }),
  });
  const j = await r.json();
  return { status: r.status, top: j.results[0].index, provider: r.headers.get('x-llm-router-provider') };
});

const jsonl = Buffer.concat([Buffer.from('{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}\n'), upload]);
await step('files', async () => {
  const ids = [];
  for (let i = 0; i < 2; i++) {
    const f = await client.files.create({ file: await toFile(jsonl, 'in.jsonl'), purpose: 'batch' });
    ids.push(f.id);
  }
  const listed = [];
  for await (const f of client.files.list()) listed.push(f.id);
  const got = [];
  const contents = [];
  for (const id of ids) {
    got.push((await client.files.retrieve(id)).id);
    contents.push(b64(await (await client.files.content(id)).arrayBuffer()));
  }
  const batches = [];
  for (const id of ids) {
    const b = await client.batches.create({ input_file_id: id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const again = await client.batches.retrieve(b.id);
    const cancelled = await client.batches.cancel(b.id);
    batches.push({ id: b.id, again: again.id, status: cancelled.status });
  }
  const batchList = [];
  for await (const b of client.batches.list()) batchList.push(b.id);
  const deleted = (await client.files.delete(ids[0])).deleted;
  let afterDelete = null;
  try {
    await client.files.retrieve(ids[0]);
  } catch (e) {
    afterDelete = e.status;
  }
  return { ids, listed, got, contents, batches, batchList, deleted, afterDelete };
});
await step('unknownFile', async () => {
  try {
    await client.files.retrieve('file-never-made');
  } catch (e) {
    return { status: e.status, message: e.message, code: e.code };
  }
  return { status: 200 };
});

report();
