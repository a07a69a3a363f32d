// A script that exits the moment its promises say so: `await submit()` for each of `count` tasks,
// `await task.wait()` for a last one, then process.exit(0) with work still running.
// Usage: node --import tsx exit-early.ts <db> <count>
import { BackgroundRunner } from '../../../src/index.js';
import { sqliteStore } from '../../../src/store/sqlite/sqlite-store.js';

const [db, count] = process.argv.slice(2) as [string, string];
const runner = new BackgroundRunner({ store: sqliteStore({ path: db }), maxConcurrentTasks: 500 });
runner.define('slow', () => new Promise(() => {}));
runner.define('quick', async (n: number) => {
  await new Promise((resolve) => setTimeout(resolve, 20));
  return n * 2;
});
for (let i = 0; i < Number(count); i += 1) await runner.submit('slow', { args: [i] });
const last = await runner.submit('quick', { args: [21] });
await last.wait();
// No stop(), no flush(): whatever the promises promised must already be on disk.
process.exit(0);
