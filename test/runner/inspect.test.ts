import { describe, expect, it } from 'vitest';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { BackgroundRunner } from '../../src/index.js';

describe('the inspect option', () => {
  it('shows the supervisor and every task actor, parented by the supervisor, with their transitions', async () => {
    const events: InspectionEvent[] = [];
    const runner = new BackgroundRunner({ maxConcurrentTasks: 1, inspect: (event) => events.push(event) });
    const a = await runner.submit(() => 'a', { name: 'a' });
    const b = await runner.submit(() => Promise.reject(new Error('b')), { name: 'b' });
    await runner.waitAll();

    const actors = events.filter((e) => e.type === '@xstate.actor').map((e) => e.actorRef as AnyActorRef);
    const supervisor = actors.find((ref) => ref.id === 'supervisor');
    expect(supervisor).toBeDefined();
    for (const task of [a, b]) {
      const ref = actors.find((r) => r.id === task.id);
      expect(ref).toBe(task.actor);
      expect((ref as unknown as { _parent: unknown })._parent).toBe(supervisor);
    }
    const transitions = (id: string) =>
      events
        .filter((e): e is Extract<InspectionEvent, { type: '@xstate.snapshot' }> => e.type === '@xstate.snapshot' && (e.actorRef as AnyActorRef).id === id)
        .map((e) => (e.snapshot as unknown as { value: string }).value);
    expect(transitions(a.id)).toEqual(['pending', 'running', 'completed']);
    expect(transitions(b.id)).toEqual(['pending', 'running', 'failed']);
    const received = events
      .filter((e): e is Extract<InspectionEvent, { type: '@xstate.event' }> => e.type === '@xstate.event' && (e.actorRef as AnyActorRef).id === 'supervisor')
      .map((e) => e.event.type);
    expect(received).toContain('sync');
  });
});
