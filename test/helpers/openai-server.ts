import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake model server received. */
export interface SeenRequest {
  readonly body: { model?: string; stream?: boolean; messages?: { role: string; content: string }[] };
  /** How many SSE tokens were written before the request ended or was closed. */
  tokensSent: number;
  /** Resolves when the connection closes: `early` is true when the client went away mid-response. */
  readonly closed: Promise<{ early: boolean }>;
}

export interface FakeModelServer {
  /** e.g. `http://127.0.0.1:40123/v1` */
  readonly baseURL: string;
  readonly requests: SeenRequest[];
  /** Resolves with the next request to arrive (or the one already there, if `index` < length). */
  request(index?: number): Promise<SeenRequest>;
  close(): Promise<void>;
}

/**
 * A local OpenAI-compatible endpoint for tests: `POST /v1/chat/completions` answers with `tokens`,
 * either as one JSON completion or (with `stream: true`) as SSE chunks, one every `intervalMs`, so
 * a test can cancel mid-stream and see the connection close. It never reaches the network.
 */
export async function startFakeModelServer(options: { tokens: string[]; intervalMs?: number }): Promise<FakeModelServer> {
  const { tokens, intervalMs = 20 } = options;
  const requests: SeenRequest[] = [];
  const waiting: ((request: SeenRequest) => void)[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    for await (const part of req) raw += String(part);
    const body = JSON.parse(raw || '{}') as SeenRequest['body'];
    let ended = false;
    const closed = new Promise<{ early: boolean }>((resolve) => res.on('close', () => resolve({ early: !ended })));
    const seen: SeenRequest = { body, tokensSent: 0, closed };
    requests.push(seen);
    waiting.shift()?.(seen);
    if (req.url !== '/v1/chat/completions') {
      res.writeHead(404).end();
      ended = true;
      return;
    }
    const base = { id: 'chatcmpl-1', created: 1, model: body.model ?? 'fake' };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      ended = true;
      res.end(
        JSON.stringify({
          ...base,
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: tokens.join('') }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 3, completion_tokens: tokens.length, total_tokens: 3 + tokens.length },
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (chunk: unknown) => res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    for (const token of tokens) {
      if (res.destroyed) return;
      send({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: token }, finish_reason: null }] });
      seen.tokensSent += 1;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    if (res.destroyed) return;
    send({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
    ended = true;
    res.end('data: [DONE]\n\n');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    request: (index = requests.length) =>
      index < requests.length ? Promise.resolve(requests[index]!) : new Promise((resolve) => waiting.push(resolve)),
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
