// One life of a process the chaos test kills: recovers what the last one left, submits `count`
// named tasks (acknowledging each on stdout once its submit() resolved), and runs until idle.
// Usage: node --import tsx chaos-child.ts <db> <log> <round> <count>
import { appendFileSync } from 'node:fs';
import { BackgroundRunner } from '../../../src/index.js';
import type { BackgroundTask, TaskContext } from '../../../src/index.js';
import { sqliteStore } from '../../../src/store/sqlite/sqlite-store.js';

const [db, log, round, countText] = process.argv.slice(2) as [string, string, string, string];
const count = Number(countText);
const say = (line: string) => process.stdout.write(`${line}\n`);
// appendFileSync: every line is in the file before the next thing happens, kill or not.
const note = (line: string) => appendFileSync(log, `${line}\n`);

const runner = new BackgroundRunner({ store: sqliteStore({ path: db }), maxConcurrentTasks: 4 });
runner.define('job', async (name: string, ctx: TaskContext) => {
  note(`start ${ctx.taskId} ${process.pid}`);
  await new Promise((resolve) => setTimeout(resolve, (name.length * 7) % 13));
  return name;
});
/** Once wait() settles, the final state is committed: after this line no start of the task may follow. */
const watch = (task: BackgroundTask) =>
  task.wait().then(
    () => note(`committed ${task.id}`),
    () => note(`committed ${task.id}`),
  );

say('recovering');
const { requeued, finished, lost } = await runner.recover();
say(`recovered ${requeued.length} ${finished.length} ${lost.length}`);
for (const task of requeued) void watch(task);

for (let i = 0; i < count; i += 1) {
  // Alternate single submits and groups of three (which share one commit).
  const names = i % 2 === 0 ? [`r${round}-${i}`] : [`r${round}-${i}a`, `r${round}-${i}b`, `r${round}-${i}c`];
  const tasks = await Promise.all(names.map((name) => runner.submit('job', { args: [name] })));
  for (const task of tasks) {
    say(`ack ${task.id}`);
    void watch(task);
  }
}
await runner.onIdle();
await runner.flush();
say('idle');
await runner.stop();
