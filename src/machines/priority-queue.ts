/**
 * Queued tasks in admission order: higher `priority` first, first in first out within a priority
 * (by `seq`).
 *
 * One FIFO run per priority, and the priorities in use kept sorted. Almost every queue holds one
 * priority, and tasks arrive in `seq` order, so `push` and `shift` are O(1): a binary heap paid
 * O(log n) comparisons, each a load from a different, long-cold entry, on every admission (17
 * levels with 100,000 tasks queued). A new priority costs a binary search and an insert among the
 * few in use; an entry older than the tail of its run (a task given back to the queue keeps its
 * `seq`) goes to its place by a binary search and a splice, which only that rare path pays.
 */
export class PriorityQueue<T extends { readonly priority: number; readonly seq: number }> {
  /** The runs, highest priority first; none is empty. */
  #runs: Run<T>[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  peek(): T | undefined {
    return this.#runs[0]?.peek();
  }

  push(item: T): void {
    this.#size += 1;
    const runs = this.#runs;
    // The common case first: the highest run (usually the only one).
    const first = runs[0];
    if (first !== undefined && first.priority === item.priority) {
      first.push(item);
      return;
    }
    // Binary search for the run of `item.priority` (runs are sorted by descending priority).
    let low = 0;
    let high = runs.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (runs[mid]!.priority > item.priority) low = mid + 1;
      else high = mid;
    }
    const found = runs[low];
    if (found !== undefined && found.priority === item.priority) {
      found.push(item);
      return;
    }
    const run = new Run<T>(item.priority);
    run.push(item);
    runs.splice(low, 0, run);
  }

  shift(): T | undefined {
    const runs = this.#runs;
    const run = runs[0];
    if (run === undefined) return undefined;
    const item = run.shift();
    this.#size -= 1;
    if (run.size === 0) runs.shift();
    return item;
  }

  clear(): void {
    this.#runs = [];
    this.#size = 0;
  }
}

/** The queued items of one priority, by `seq`: an array with a moving head, compacted when half spent. */
class Run<T extends { readonly seq: number }> {
  readonly priority: number;
  #items: (T | undefined)[] = [];
  #head = 0;

  constructor(priority: number) {
    this.priority = priority;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  peek(): T | undefined {
    return this.#head < this.#items.length ? this.#items[this.#head] : undefined;
  }

  push(item: T): void {
    const items = this.#items;
    const last = items.length - 1;
    if (last < this.#head || items[last]!.seq < item.seq) {
      items.push(item);
      return;
    }
    // Older than the tail: its place by `seq` among the live items.
    let low = this.#head;
    let high = items.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (items[mid]!.seq < item.seq) low = mid + 1;
      else high = mid;
    }
    items.splice(low, 0, item);
  }

  shift(): T {
    const items = this.#items;
    const item = items[this.#head]!;
    items[this.#head] = undefined; // a queue must not hold what it handed out
    this.#head += 1;
    if (this.#head === items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/** @internal Whether `a` is admitted before `b`. */
export function before(a: { priority: number; seq: number }, b: { priority: number; seq: number }): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
}
