// @vitest-environment happy-dom
import { useSelector } from '@xstate/react';
import type { Document as DomDocument, HTMLElement as DomElement } from 'happy-dom';
import { act, createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import type { Root } from 'react-dom/client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { BackgroundTask, TaskContext } from '../../src/index.js';
import { deferred, flushMicrotasks } from '../helpers/tasks.js';
import type { Deferred } from '../helpers/tasks.js';

// happy-dom provides `document` at run time; its own types stand in for the DOM lib, which tsconfig leaves out.
const dom = () => (globalThis as unknown as { document: DomDocument }).document;

// The components a user writes (README, "The registry (for UIs)"), with render counters.
const renders = { bar: new Map<string, number>(), list: 0, badge: 0 };

/** One task's progress, read from the task's own actor. */
function ProgressBar({ task }: { task: BackgroundTask }) {
  const progress = useSelector(task.actor, (snapshot) => snapshot.context.progress);
  const message = useSelector(task.actor, (snapshot) => snapshot.context.message);
  renders.bar.set(task.name, (renders.bar.get(task.name) ?? 0) + 1);
  return h(
    'div',
    { role: 'progressbar', 'aria-label': task.name, 'aria-valuenow': Math.round(progress * 100) },
    `${task.name} ${Math.round(progress * 100)}% ${message ?? ''}`.trim(),
  );
}

/** Every task with its status, from the runner's registry store. */
function TaskList({ runner }: { runner: BackgroundRunner }) {
  const { tasks } = useSelector(runner.registry, (snapshot) => snapshot.context);
  renders.list += 1;
  return h(
    'ul',
    null,
    [...tasks.values()].map((task) => h('li', { key: task.id }, `${task.name}: ${task.status}`)),
  );
}

/** Only the number of running tasks: re-renders when that number changes, not on progress. */
function RunningBadge({ runner }: { runner: BackgroundRunner }) {
  const running = useSelector(runner.registry, (snapshot) => snapshot.context.counts.running);
  renders.badge += 1;
  return h('output', null, `${running} running`);
}

/** Work that hands its context to the test and ends when the test says so. */
function controllable() {
  const contexts: TaskContext[] = [];
  const gates: Deferred<string>[] = [];
  const work = (context: TaskContext) => {
    contexts.push(context);
    const gate = deferred<string>();
    gates.push(gate);
    return gate.promise;
  };
  return { work, contexts, gates };
}

describe('React components subscribed to a runner', () => {
  let root: Root | undefined;
  let container: DomElement;

  beforeAll(() => {
    (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  });

  afterEach(async () => {
    await act(async () => root?.unmount());
    root = undefined;
    container?.remove();
    renders.bar.clear();
    renders.list = 0;
    renders.badge = 0;
  });

  async function render(element: ReturnType<typeof h>) {
    container = dom().createElement('div');
    dom().body.append(container);
    root = createRoot(container as unknown as Element);
    await act(async () => root!.render(element));
  }

  const settle = () => act(async () => flushMicrotasks());
  const text = (selector: string) => [...container.querySelectorAll(selector)].map((el) => el.textContent);

  describe('a progress bar on task.actor (@xstate/react useSelector)', () => {
    it('shows each progress report, re-rendering only when its own task changes', async () => {
      const runner = new BackgroundRunner();
      const { work, contexts, gates } = controllable();
      const a = await runner.submit(work, { name: 'a' });
      const b = await runner.submit(work, { name: 'b' });
      await settle();
      await render(h('div', null, h(ProgressBar, { task: a }), h(ProgressBar, { task: b })));
      expect(text('[role=progressbar]')).toEqual(['a 0%', 'b 0%']);
      const before = { a: renders.bar.get('a')!, b: renders.bar.get('b')! };

      await act(async () => contexts[0]!.reportProgress(0.25, 'searching'));
      expect(text('[role=progressbar]')).toEqual(['a 25% searching', 'b 0%']);
      expect(renders.bar.get('a')).toBe(before.a + 1);
      expect(renders.bar.get('b')).toBe(before.b);

      await act(async () => contexts[0]!.reportProgress(0.75, 'writing'));
      expect(container.querySelector('[aria-label=a]')?.getAttribute('aria-valuenow')).toBe('75');

      gates[0]!.resolve('done');
      await settle();
      expect(text('[role=progressbar]')).toEqual(['a 100% writing', 'b 0%']);
      expect(renders.bar.get('b')).toBe(before.b);
      await runner.stop();
    });
  });

  describe('a task list on runner.registry (useSelector on the @xstate/store store)', () => {
    it('lists tasks as they are submitted and shows each status change', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const { work, gates } = controllable();
      await render(h('div', null, h(TaskList, { runner }), h(RunningBadge, { runner })));
      expect(text('li')).toEqual([]);
      expect(text('output')).toEqual(['0 running']);

      await act(async () => {
        await runner.submit(work, { name: 'first' });
        await runner.submit(work, { name: 'second' });
        await flushMicrotasks();
      });
      expect(text('li')).toEqual(['first: running', 'second: pending']);
      expect(text('output')).toEqual(['1 running']);

      await act(async () => {
        gates[0]!.reject(new Error('boom'));
        await flushMicrotasks();
      });
      expect(text('li')).toEqual(['first: failed', 'second: running']);

      await act(async () => {
        gates[1]!.resolve('ok');
        await flushMicrotasks();
      });
      expect(text('li')).toEqual(['first: failed', 'second: completed']);
      expect(text('output')).toEqual(['0 running']);
      await runner.stop();
    });

    it('re-renders a count selector only when the count changes, not on progress', async () => {
      const runner = new BackgroundRunner();
      const { work, contexts } = controllable();
      await runner.submit(work, { name: 'only' });
      await settle();
      await render(h('div', null, h(TaskList, { runner }), h(RunningBadge, { runner })));
      const before = { list: renders.list, badge: renders.badge };

      for (const fraction of [0.1, 0.2, 0.3]) await act(async () => contexts[0]!.reportProgress(fraction));
      expect(renders.list).toBe(before.list + 3);
      expect(renders.badge).toBe(before.badge);

      await act(async () => runner.cancelTask(runner.tasks[0]!.id));
      expect(text('li')).toEqual(['only: cancelled']);
      expect(text('output')).toEqual(['0 running']);
      expect(renders.badge).toBe(before.badge + 1);
      await runner.stop();
    });
  });
});
