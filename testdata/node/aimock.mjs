// Serves @copilotkit/aimock, an independent mock of the OpenAI, Anthropic and Gemini APIs, as
// the router's upstream; aimock_test.go runs it. Each upstream model id is one behaviour:
// "good" answers, the others fail in the way their name says. Prints the mock's URL on one
// line, then serves until its standard input closes.
import { LLMock } from '@copilotkit/aimock';

// Small chunks, so that a stream has several events to be cut between.
const mock = new LLMock({ port: 0, host: '127.0.0.1', chunkSize: 4 });
const answer = { content: 'Hello from aimock' };
const on = (model, response, opts) => mock.on({ model }, response, opts);

on('good', answer);
on('rate-limited', { error: { message: 'slow down', type: 'rate_limit_error' }, status: 429, retryAfter: 7 });
on('server-error', { error: { message: 'boom', type: 'server_error' }, status: 500 });
on('overloaded', { error: { message: 'overloaded', type: 'overloaded_error' }, status: 503, retryAfter: 3 });
on('chaos-drop', answer, { chaos: { dropRate: 1 } });
on('chaos-malformed', answer, { chaos: { malformedRate: 1 } });
on('chaos-rate-limit', answer, { chaos: { rateLimitRate: 1 } });
on('chaos-disconnect', answer, { chaos: { disconnectRate: 1 } });
// A silence before the head, longer than the test's first_event_timeout.
on('stall', answer, { chaos: { latencyMs: 3000 } });
// Cut after the stream began: after its fourth chunk, and after a time. The latency between
// chunks lets each reach the socket before the cut.
on('truncated', answer, { truncateAfterChunks: 5, latency: 20 });
on('disconnected', answer, { disconnectAfterMs: 60, latency: 25 });

await mock.start();
console.log(mock.url);
process.stdin.resume();
process.stdin.on('end', () => mock.stop().then(() => process.exit(0)));
