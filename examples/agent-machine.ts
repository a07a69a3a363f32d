/**
 * An XState agent that plans, fans three research tasks out to a tasklane runner, waits for them
 * and summarises. Offline: the "research" is timers. Run it with `npm run example:agent`.
 */
import { pathToFileURL } from 'node:url';
import { assign, createActor, enqueueActions, fromPromise, setup } from 'xstate';
import { backgroundRunnerLogic } from '../src/index.js';
import type { RunnerLogicEmitted, TaskContext } from '../src/index.js';

/** Resolves after `ms`, or rejects with the abort reason when the task is cancelled first. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

/** Simulated research: three steps of 250–350 ms, reporting progress after each. */
export async function research(topic: string, { signal, reportProgress }: TaskContext): Promise<string> {
  for (const [step, message] of ['searching', 'reading', 'writing'].entries()) {
    await sleep(250 + (topic.length % 3) * 50, signal);
    reportProgress((step + 1) / 3, message);
  }
  return `${(topic.length % 4) + 2} sources on ${topic}`;
}

/** What one research task ended with. */
export type Finding = { topic: string; ok: true; notes: string } | { topic: string; ok: false; error: string };

export interface AgentInput {
  goal: string;
  /** The research work; tests swap in one that fails. @defaultValue {@link research} */
  research?: (topic: string, context: TaskContext) => Promise<string>;
}

export interface AgentContext {
  goal: string;
  research: (topic: string, context: TaskContext) => Promise<string>;
  topics: string[];
  findings: Record<string, Finding>;
  summary: string | undefined;
}

/**
 * The agent. `note` is called with each state entered and each task event; it does nothing until
 * you provide it (the script below prints).
 */
export const agentMachine = setup({
  types: {
    input: {} as AgentInput,
    context: {} as AgentContext,
    events: {} as RunnerLogicEmitted,
    output: {} as { summary: string; findings: Finding[] },
  },
  actors: {
    runner: backgroundRunnerLogic,
    plan: fromPromise(async ({ input }: { input: { goal: string } }) => {
      await sleep(200);
      return ['history', 'state of the art', 'open problems'].map((aspect) => `${aspect} of ${input.goal}`);
    }),
    summarise: fromPromise(async ({ input }: { input: { findings: Finding[] } }) => {
      await sleep(200);
      const ok = input.findings.filter((f) => f.ok).length;
      return `${ok} of ${input.findings.length} research tasks succeeded`;
    }),
  },
  actions: {
    note: (_, _params: { line: string }) => {},
  },
  guards: {
    allIn: ({ context }) => context.topics.length > 0 && Object.keys(context.findings).length === context.topics.length,
  },
}).createMachine({
  id: 'agent',
  context: ({ input }) => ({ goal: input.goal, research: input.research ?? research, topics: [], findings: {}, summary: undefined }),
  initial: 'planning',
  states: {
    planning: {
      invoke: {
        src: 'plan',
        input: ({ context }) => ({ goal: context.goal }),
        onDone: { target: 'researching', actions: assign({ topics: ({ event }) => event.output }) },
      },
    },
    researching: {
      // The runner lives as long as this state: leaving it stops the runner and cancels what still runs.
      invoke: {
        id: 'runner',
        src: 'runner',
        input: ({ context }) => ({ maxConcurrentTasks: 2, defaultTimeout: 5_000, handlers: { research: context.research } }),
      },
      initial: 'dispatching',
      states: {
        // xstate delivers sendTo after it has started the invoked runner, so any entry may submit.
        dispatching: {
          entry: enqueueActions(({ context, enqueue }) => {
            enqueue({ type: 'note', params: { line: `  fanning out ${context.topics.length} research tasks, 2 at a time` } });
            for (const topic of context.topics) {
              enqueue.sendTo('runner', { type: 'task.submit', handler: 'research', args: [topic], name: topic, requestId: topic });
            }
          }),
          always: 'waiting',
        },
        waiting: {
          always: { guard: 'allIn', target: '#agent.summarising' },
          on: {
            'task.started': { actions: { type: 'note', params: ({ event }) => ({ line: `  started   ${event.name}` }) } },
            'task.progress': {
              actions: {
                type: 'note',
                params: ({ event }) => ({ line: `  progress  ${event.name} ${Math.round(event.progress * 100)}% ${event.message ?? ''}` }),
              },
            },
            'task.completed': {
              actions: [
                assign({
                  findings: ({ context, event }) => ({
                    ...context.findings,
                    [event.requestId!]: { topic: event.requestId!, ok: true, notes: String(event.result) },
                  }),
                }),
                { type: 'note', params: ({ event }) => ({ line: `  completed ${event.name}: ${String(event.result)}` }) },
              ],
            },
            'task.failed': {
              actions: [
                assign({
                  findings: ({ context, event }) => ({
                    ...context.findings,
                    [event.requestId!]: { topic: event.requestId!, ok: false, error: event.error.message },
                  }),
                }),
                { type: 'note', params: ({ event }) => ({ line: `  failed    ${event.name}: ${event.error.message}` }) },
              ],
            },
            'task.rejected': {
              actions: [
                assign({
                  findings: ({ context, event }) => ({
                    ...context.findings,
                    [event.requestId!]: { topic: event.requestId!, ok: false, error: event.error.message },
                  }),
                }),
                { type: 'note', params: ({ event }) => ({ line: `  rejected  ${event.requestId}: ${event.error.message}` }) },
              ],
            },
          },
        },
      },
    },
    summarising: {
      invoke: {
        src: 'summarise',
        input: ({ context }) => ({ findings: context.topics.map((topic) => context.findings[topic]!) }),
        onDone: { target: 'done', actions: assign({ summary: ({ event }) => event.output }) },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ summary: context.summary!, findings: context.topics.map((topic) => context.findings[topic]!) }),
});

async function main(): Promise<void> {
  const started = Date.now();
  const stamp = () => `${String(Date.now() - started).padStart(5)} ms`;
  const agent = createActor(agentMachine.provide({ actions: { note: (_, { line }) => console.log(`${stamp()}  ${line}`) } }), {
    input: { goal: 'AI agents' },
  });
  // State transitions, from the agent's snapshots.
  let previous = '';
  agent.subscribe((snapshot) => {
    const state =
      typeof snapshot.value === 'string'
        ? snapshot.value
        : Object.entries(snapshot.value)
            .map(([k, v]) => `${k}.${String(v)}`)
            .join();
    if (state !== previous) console.log(`${stamp()}  state: ${previous || '(start)'} -> ${state}`);
    previous = state;
  });
  agent.start();
  const output = await new Promise<{ summary: string; findings: Finding[] }>((resolve, reject) =>
    agent.subscribe({ complete: () => resolve(agent.getSnapshot().output!), error: reject }),
  );
  console.log(`${stamp()}  summary: ${output.summary}`);
  for (const finding of output.findings) console.log(`  - ${finding.ok ? finding.notes : `${finding.topic}: failed (${finding.error})`}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
