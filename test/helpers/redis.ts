/**
 * A real `redis-server` for the tests: started on a free port on 127.0.0.1, with no persistence,
 * and stopped after. Where the binary is missing, outside CI the tests say so in one line and are
 * skipped; with `CI=true` the missing server fails the run.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** A running server. */
export interface RedisServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `{ host, port }` for ioredis and BullMQ. */
  readonly connection: { host: string; port: number; maxRetriesPerRequest: null };
  /** Stops the server (SIGTERM, then SIGKILL after 2 s) and waits for it to exit. */
  stop(): Promise<void>;
}

const BINARY = process.env.REDIS_SERVER ?? 'redis-server';

/** Whether `redis-server` can be run here. */
export const hasRedis: boolean = spawnSync(BINARY, ['--version'], { stdio: 'ignore' }).status === 0;

if (!hasRedis) {
  if (process.env.CI === 'true')
    throw new Error(`redis-server is missing (${BINARY}); CI must install it (apt-get install -y redis-server)`);
  console.warn('redis-server not found: skipping the BullMQ backend tests (apt-get install -y redis-server to run them)');
}

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts a server and resolves once it accepts connections. */
export async function startRedis(): Promise<RedisServer> {
  for (let tries = 0; ; tries += 1) {
    const port = await freePort();
    try {
      return await launch(port);
    } catch (error) {
      if (tries >= 3) throw error; // the port was taken in between: try another
    }
  }
}

async function launch(port: number): Promise<RedisServer> {
  const child: ChildProcess = spawn(
    BINARY,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start on port ${port}: ${output}`)), 10_000);
    const onData = (data: Buffer): void => {
      output += data.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code} on port ${port}: ${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  // A test process that ends without its afterAll (a timed-out hook, a crash) takes the server along.
  const reap = (): void => void child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  return {
    host: '127.0.0.1',
    port,
    connection: { host: '127.0.0.1', port, maxRetriesPerRequest: null },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 2_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
