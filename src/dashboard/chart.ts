import type { AnyStateMachine } from 'xstate';
import { taskMachine } from '../machines/task-machine.js';

/** The task statechart as the page draws it: read from the machine, never drawn by hand. */
export interface ChartView {
  initial: string;
  states: { name: string; final: boolean }[];
  /** One entry per (source, target) pair, with every event that takes it. */
  transitions: { from: string; to: string; events: string[] }[];
}

/**
 * Reads a machine's top-level states and their transitions (guarded alternatives included) at
 * run time, so the picture follows the chart whenever the machine changes.
 */
export function chartOf(machine: AnyStateMachine = taskMachine as unknown as AnyStateMachine): ChartView {
  const root = machine.root;
  const states: ChartView['states'] = [];
  const byPair = new Map<string, { from: string; to: string; events: string[] }>();
  for (const [name, node] of Object.entries(root.states)) {
    states.push({ name, final: node.type === 'final' });
    for (const [event, definitions] of node.transitions) {
      for (const definition of definitions) {
        for (const target of definition.target ?? []) {
          if (target.key === name && definition.reenter !== true) continue;
          const key = `${name}→${target.key}`;
          let pair = byPair.get(key);
          if (!pair) byPair.set(key, (pair = { from: name, to: target.key, events: [] }));
          // xstate names delayed events `xstate.after.…`; the chart's own events are plain words.
          if (!pair.events.includes(event)) pair.events.push(event);
        }
      }
    }
  }
  const initial = typeof root.config.initial === 'string' ? root.config.initial : (states[0]?.name ?? '');
  return { initial, states, transitions: [...byPair.values()] };
}
