// Durable tasks: run it, press Ctrl-C (or kill -9 it) while tasks run, run it again.
//   npx tsx examples/durable.ts        then        npx tsx src/cli/bin.ts list --db tasks.db
import { BackgroundRunner } from '../src/index.js';
import type { TaskContext } from '../src/index.js';
import { sqliteStore } from '../src/store/sqlite/sqlite-store.js';

const runner = new BackgroundRunner({
  maxConcurrentTasks: 2,
  store: sqliteStore({ path: 'tasks.db' }),
  onRecovered: (task) => console.log(`recovered ${task.name} ${task.id.slice(0, 8)}: ${task.status}`, task.result ?? task.error?.message),
});

runner.define('research', async (topic: string, ctx: TaskContext) => {
  for (let step = 1; step <= 5; step += 1) {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, 1_000);
      ctx.signal.addEventListener('abort', () => (clearTimeout(timer), reject(ctx.signal.reason)));
    });
    ctx.reportProgress(step / 5, `step ${step}`);
  }
  return `notes on ${topic}`;
});

const { requeued, lost, finished } = await runner.recover();
console.log(`recover(): ${requeued.length} re-queued, ${lost.length} lost, ${finished.length} finished earlier`);
if (requeued.length === 0) {
  for (const topic of ['AI', 'databases', 'compilers']) await runner.submit('research', { args: [topic] });
}
runner.on('completed', ({ task }) => console.log(`completed ${task.name} ${task.id.slice(0, 8)}: ${String(task.result)}`));
await runner.onIdle();
await runner.stop();
