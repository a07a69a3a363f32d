import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, NonRetryableError } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { instrument } from '../../src/otel/instrument.js';

/** A reader the test collects from on demand. */
class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

let exporter: InMemorySpanExporter;
let reader: TestReader;
let runner: BackgroundRunner;
let stop: () => void;
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  context.disable();
});

beforeEach(() => {
  vi.useFakeTimers({ now: 10_000 });
  exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  runner = new BackgroundRunner();
  stop = instrument(runner, { tracer: tracerProvider.getTracer('test'), meter: meterProvider.getMeter('test'), destination: 'jobs' });
});
afterEach(async () => {
  stop();
  await runner.stop();
  vi.useRealTimers();
});

const spans = () => exporter.getFinishedSpans();
const byKind = (kind: SpanKind) => spans().filter((s) => s.kind === kind);
const ms = (span: ReadableSpan) => span.startTime[0] * 1_000 + span.startTime[1] / 1e6;
const endMs = (span: ReadableSpan) => span.endTime[0] * 1_000 + span.endTime[1] / 1e6;

async function metric(name: string) {
  const { resourceMetrics } = await reader.collect();
  for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) if (m.descriptor.name === name) return m.dataPoints;
  return [];
}

describe('instrument', () => {
  describe('when a task completes', () => {
    it('emits a PRODUCER span and a CONSUMER child with the messaging attributes', async () => {
      const task = await runner.submit(
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 250));
          return 'ok';
        },
        { name: 'research' },
      );
      await vi.advanceTimersByTimeAsync(250);
      const [producer] = byKind(SpanKind.PRODUCER);
      const [consumer] = byKind(SpanKind.CONSUMER);
      expect(producer!.name).toBe('send jobs');
      expect(producer!.attributes).toMatchObject({
        'messaging.system': 'tasklane',
        'messaging.operation.name': 'submit',
        'messaging.operation.type': 'send',
        'messaging.destination.name': 'jobs',
        'messaging.message.id': task.id,
      });
      expect(consumer!.name).toBe('process jobs');
      expect(consumer!.attributes).toMatchObject({
        'messaging.operation.type': 'process',
        'messaging.message.id': task.id,
        'tasklane.task.attempt': 1,
      });
      expect(consumer!.parentSpanContext?.spanId).toBe(producer!.spanContext().spanId);
      expect(consumer!.spanContext().traceId).toBe(producer!.spanContext().traceId);
      expect(consumer!.status.code).toBe(SpanStatusCode.UNSET);
      expect(endMs(consumer!) - ms(consumer!)).toBe(250);
      expect(
        consumer!.events.map((e) => `${String(e.attributes!.from)}>${String(e.attributes!.to)}:${String(e.attributes!.event)}`),
      ).toEqual(['pending>running:start', 'running>completed:done']);
      const durations = (await metric('messaging.process.duration')) as DataPoint<Histogram>[];
      expect(durations[0]!.value.sum).toBeCloseTo(0.25);
    });

    it('makes the producer span a child of the span active at submit', async () => {
      const tracer = new BasicTracerProvider().getTracer('outer');
      const request = tracer.startSpan('request');
      await context.with(trace.setSpan(context.active(), request), () => runner.submit(async () => 1));
      await runner.onIdle();
      request.end();
      expect(byKind(SpanKind.PRODUCER)[0]!.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    });
  });

  describe('when attempts fail', () => {
    it('ends each failed attempt with status ERROR and error.type, and counts the retry', async () => {
      let calls = 0;
      await runner.submit(
        async () => {
          calls += 1;
          if (calls === 1) throw new TypeError('bad input');
          throw new NonRetryableError('give up');
        },
        { retries: 3, backoff: 100 },
      );
      await vi.advanceTimersByTimeAsync(100);
      const consumers = byKind(SpanKind.CONSUMER);
      expect(consumers).toHaveLength(2);
      expect(consumers.map((s) => s.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.ERROR]);
      expect(consumers.map((s) => s.attributes['error.type'])).toEqual(['TypeError', 'NonRetryableError']);
      expect(consumers.map((s) => s.attributes['tasklane.task.attempt'])).toEqual([1, 2]);
      expect(consumers[0]!.events.filter((e) => e.name === 'transition').at(-1)!.attributes).toMatchObject({
        from: 'running',
        to: 'retrying',
        event: 'error',
      });
      const [retries] = (await metric('tasklane.task.retries')) as DataPoint<number>[];
      expect(retries!.value).toBe(1);
    });

    it("names a timeout's error.type TaskTimeoutError", async () => {
      await runner.submit((ctx: TaskContext) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)), { timeout: 500 });
      await vi.advanceTimersByTimeAsync(500);
      const [consumer] = byKind(SpanKind.CONSUMER);
      expect(consumer!.attributes['error.type']).toBe('TaskTimeoutError');
      expect(consumer!.events.filter((e) => e.name === 'transition').at(-1)!.attributes).toMatchObject({ to: 'failed', event: 'timeout' });
    });
  });

  describe('metrics', () => {
    it('tracks active tasks by status and the queue wait', async () => {
      runner.setConcurrency(1);
      let release!: () => void;
      await runner.submit(() => new Promise<void>((resolve) => (release = resolve)));
      await runner.submit(async () => 'second');
      await vi.advanceTimersByTimeAsync(0);
      const activeNow = (await metric('tasklane.tasks.active')) as DataPoint<number>[];
      const byStatus = Object.fromEntries(activeNow.map((p) => [p.attributes['tasklane.task.status'], p.value]));
      expect(byStatus).toEqual({ running: 1, pending: 1 });
      await vi.advanceTimersByTimeAsync(300);
      release();
      await runner.onIdle();
      const after = (await metric('tasklane.tasks.active')) as DataPoint<number>[];
      expect(after.every((p) => p.value === 0)).toBe(true);
      const wait = (await metric('tasklane.queue.wait')) as DataPoint<Histogram>[];
      expect(wait[0]!.value.count).toBe(2);
      expect(wait[0]!.value.max).toBeCloseTo(0.3);
    });
  });

  describe('options', () => {
    it('rejects a bad destination with the one error shape', () => {
      expect(() => instrument(runner, { destination: '' })).toThrow('Expected `destination` to be a non-empty string, got `""` (string)');
    });
  });
});
