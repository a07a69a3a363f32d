// The seed's Quick Start, in TypeScript. Run: npx tsx examples/quick-start.ts
import { BackgroundRunner } from '../src/index.js';

const runner = new BackgroundRunner({ maxConcurrentTasks: 3 });

async function myTask(name: string): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  return `Task ${name} completed`;
}

const task = await runner.submit(myTask, { args: ['example'], name: 'my_task' });
console.log(`Submitted: ${task.id.slice(0, 8)}`);

await task.wait({ timeout: 10_000 });
console.log(`Result: ${task.result}`);
console.log(`Status: ${task.status} in ${task.durationMs} ms`);
