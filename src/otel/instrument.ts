/**
 * `tasklane/otel`: OpenTelemetry spans and metrics for a runner, from its `'transition'` event.
 * Needs only `@opentelemetry/api` (an optional peer); bring your own SDK and exporter.
 *
 * @example
 * ```ts
 * import { instrument } from 'tasklane/otel';
 * const stop = instrument(runner); // the global tracer and meter, named 'tasklane'
 * ```
 */
import type { Attributes, Context, Meter, Span, Tracer } from '@opentelemetry/api';
import type { BackgroundRunner } from '../runner/background-runner.js';
import type { BackgroundTask } from '../runner/background-task.js';
import type { RunnerEvents } from '../runner/events.js';
import type { TaskId, TaskStatus } from '../types.js';
import { invalid } from '../validate.js';
import { importPeer } from '../peer.js';

const {
  context: otelContext,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
} = await importPeer('@opentelemetry/api', 'tasklane/otel', () => import('@opentelemetry/api'));

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** Where spans go. @defaultValue `trace.getTracer('tasklane')` (the global provider) */
  tracer?: Tracer | undefined;
  /** Where metrics go. @defaultValue `metrics.getMeter('tasklane')` (the global provider) */
  meter?: Meter | undefined;
  /** `messaging.destination.name`: the queue's name in your traces. @defaultValue `'tasklane'` */
  destination?: string | undefined;
}

/** Open bookkeeping per task: its producer span's context, and the current attempt's span. */
interface Traced {
  producer: Context;
  consumer: Span | undefined;
  attemptStart: number;
}

const SYSTEM = 'tasklane';
const ACTIVE: ReadonlySet<TaskStatus> = new Set(['pending', 'running', 'retrying']);

/**
 * Instruments `runner` with OpenTelemetry, following the messaging semantic conventions:
 *
 * - a PRODUCER span `send <destination>` per submitted task, a child of the context active at
 *   `submit()` (so it sits under your request's span), ended at once;
 * - a CONSUMER span `process <destination>` per attempt, a child of the producer span, from the
 *   attempt's start to its end; status ERROR with `error.type` (the error's name) when the attempt
 *   fails or times out; a cancelled attempt ends with `tasklane.task.outcome = "cancelled"`;
 * - each transition of the task as a span event `transition` (`from`, `to`, `event`, `attempt`)
 *   on the span open at that moment;
 * - metrics `messaging.process.duration` (s, per attempt), `tasklane.tasks.active` (by status),
 *   `tasklane.queue.wait` (s, submit to first start) and `tasklane.task.retries`.
 *
 * Every span carries `messaging.system = "tasklane"`, `messaging.operation.name`/`.type`,
 * `messaging.destination.name` and `messaging.message.id` (the task id). Times are the runner's
 * clock. Tasks submitted before `instrument()` are counted from their next transition on.
 *
 * @returns a function that stops the instrumentation (spans still open are ended).
 * @throws TypeError naming the option for a bad option.
 */
export function instrument(runner: BackgroundRunner, options: InstrumentOptions = {}): () => void {
  if (runner === null || typeof runner !== 'object' || typeof (runner as Partial<BackgroundRunner>).on !== 'function') {
    invalid('runner', 'a BackgroundRunner', runner);
  }
  if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
  const destination = options.destination ?? SYSTEM;
  if (typeof destination !== 'string' || destination === '') invalid('destination', 'a non-empty string', destination);
  const tracer = options.tracer ?? trace.getTracer(SYSTEM);
  const meter = options.meter ?? metrics.getMeter(SYSTEM);
  if (typeof tracer?.startSpan !== 'function') invalid('tracer', 'an OpenTelemetry Tracer', tracer);
  if (typeof meter?.createHistogram !== 'function') invalid('meter', 'an OpenTelemetry Meter', meter);

  const base: Attributes = { 'messaging.system': SYSTEM, 'messaging.destination.name': destination };
  const processDuration = meter.createHistogram('messaging.process.duration', {
    description: 'Duration of one attempt of a task',
    unit: 's',
  });
  const active = meter.createUpDownCounter('tasklane.tasks.active', { description: 'Tasks pending, running or retrying', unit: '{task}' });
  const queueWait = meter.createHistogram('tasklane.queue.wait', { description: 'Time from submit to first start', unit: 's' });
  const retries = meter.createCounter('tasklane.task.retries', { description: 'Attempts that failed and were retried', unit: '{retry}' });

  const traced = new Map<TaskId, Traced>();

  const spanAttributes = (task: BackgroundTask, operation: 'send' | 'process'): Attributes => ({
    ...base,
    'messaging.operation.name': operation === 'send' ? 'submit' : 'process',
    'messaging.operation.type': operation,
    'messaging.message.id': task.id,
    'tasklane.task.name': task.name,
  });

  const endAttempt = (state: Traced, task: BackgroundTask, to: TaskStatus, at: number): void => {
    const span = state.consumer;
    if (!span) return;
    state.consumer = undefined;
    const attributes: Attributes = { ...base, 'messaging.operation.name': 'process' };
    if (to === 'failed' || to === 'retrying' || to === 'lost') {
      const error = (to === 'retrying' ? task.attempts.at(-1)?.error : task.error) ?? task.error;
      const type = error?.name ?? 'Error';
      attributes['error.type'] = type;
      span.setAttribute('error.type', type);
      if (error) span.recordException(error, at);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error?.message });
    } else if (to === 'cancelled') {
      span.setAttribute('tasklane.task.outcome', 'cancelled');
    }
    span.end(at);
    processDuration.record(Math.max(0, at - state.attemptStart) / 1000, attributes);
  };

  const onTransition: RunnerEvents['transition'] = ({ task, from, to, event, at, attempt }) => {
    if (from !== null && ACTIVE.has(from)) active.add(-1, { ...base, 'tasklane.task.status': from });
    if (ACTIVE.has(to)) active.add(1, { ...base, 'tasklane.task.status': to });
    const mark = { from: from ?? '', to, event, attempt };

    let state = traced.get(task.id);
    if (from === null) {
      const producer = tracer.startSpan(
        `send ${destination}`,
        { kind: SpanKind.PRODUCER, startTime: at, attributes: spanAttributes(task, 'send') },
        otelContext.active(),
      );
      producer.addEvent('transition', mark, at);
      producer.end(at);
      state = { producer: trace.setSpan(otelContext.active(), producer), consumer: undefined, attemptStart: at };
      if (ACTIVE.has(to)) traced.set(task.id, state);
      return;
    }
    if (!state) {
      // Submitted before instrument(): no producer span to hang attempts under.
      state = { producer: otelContext.active(), consumer: undefined, attemptStart: at };
      traced.set(task.id, state);
    }
    if (to === 'running') {
      if (from === 'pending') queueWait.record(Math.max(0, at - task.createdAt.getTime()) / 1000, base);
      const span = tracer.startSpan(
        `process ${destination}`,
        { kind: SpanKind.CONSUMER, startTime: at, attributes: { ...spanAttributes(task, 'process'), 'tasklane.task.attempt': attempt } },
        state.producer,
      );
      span.addEvent('transition', mark, at);
      state.consumer = span;
      state.attemptStart = at;
      return;
    }
    state.consumer?.addEvent('transition', mark, at);
    if (from === 'running') endAttempt(state, task, to, at);
    if (to === 'retrying') retries.add(1, base);
    if (!ACTIVE.has(to)) traced.delete(task.id);
  };

  runner.on('transition', onTransition);
  return () => {
    runner.off('transition', onTransition);
    for (const state of traced.values()) state.consumer?.end();
    traced.clear();
  };
}
