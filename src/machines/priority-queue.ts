/**
 * A binary heap of queued tasks: higher `priority` first, first in first out within a priority
 * (by `seq`). `push`/`shift` are O(log n).
 */
export class PriorityQueue<T extends { readonly priority: number; readonly seq: number }> {
  readonly #heap: T[] = [];

  get size(): number {
    return this.#heap.length;
  }

  peek(): T | undefined {
    return this.#heap[0];
  }

  push(item: T): void {
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const item = heap[i]!;
      if (!before(item, heap[parent]!)) break;
      // A swap through a local: a destructuring swap allocates an array per step.
      heap[i] = heap[parent]!;
      heap[parent] = item;
      i = parent;
    }
  }

  shift(): T | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let best = i;
      if (left < heap.length && before(heap[left]!, heap[best]!)) best = left;
      if (right < heap.length && before(heap[right]!, heap[best]!)) best = right;
      if (best === i) break;
      const item = heap[i]!;
      heap[i] = heap[best]!;
      heap[best] = item;
      i = best;
    }
    return top;
  }

  clear(): void {
    this.#heap.length = 0;
  }
}

/** @internal Whether `a` is admitted before `b`. */
export function before(a: { priority: number; seq: number }, b: { priority: number; seq: number }): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
}
