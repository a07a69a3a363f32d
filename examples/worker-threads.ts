// CPU-bound work in worker threads. Run: npx tsx examples/worker-threads.ts
import { BackgroundRunner } from '../src/index.js';
import { workerTask } from '../src/worker/worker.js';

const runner = new BackgroundRunner({ maxConcurrentTasks: 2 });
runner.on('progress', ({ task, progress, message }) => console.log(`${task.name} ${Math.round(progress * 100)}% ${message}`));

const hashMany = workerTask(new URL('./hash.mjs', import.meta.url), 'hashMany');
const spinForever = workerTask(new URL('./hash.mjs', import.meta.url), 'spinForever');

let ticks = 0;
const ticker = setInterval(() => (ticks += 1), 100); // the main thread stays free meanwhile
const hash = await runner.submit(hashMany, { args: ['tasklane', 500_000], timeout: 10_000 });
const stuck = await runner.submit(spinForever, { timeout: 300 });

console.log(`digest: ${await hash.wait()}`);
await stuck.wait().catch((error: Error) => console.log(`${stuck.name}: ${stuck.status}, ${error.name}`));
clearInterval(ticker);
console.log(`the main thread ticked ${ticks} times meanwhile`);
