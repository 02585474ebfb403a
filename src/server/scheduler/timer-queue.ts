/** A binary min-heap of items ordered by a numeric key (the due time in ms). */
export class TimerQueue<T> {
  private heap: { key: number; item: T }[] = [];

  get size(): number {
    return this.heap.length;
  }

  peekKey(): number | undefined {
    return this.heap[0]?.key;
  }

  push(key: number, item: T): void {
    const h = this.heap;
    h.push({ key, item });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.key <= key) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = { key, item };
  }

  /** Removes and returns every item with key <= `upTo`, in key order. */
  popDue(upTo: number): T[] {
    const out: T[] = [];
    while (this.heap.length && this.heap[0]!.key <= upTo) out.push(this.pop()!);
    return out;
  }

  /** Removes items matching the predicate (rare: a task was edited or deleted). */
  removeWhere(pred: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept = this.heap.filter((e) => (pred(e.item) ? (removed.push(e.item), false) : true));
    this.heap = [];
    for (const e of kept) this.push(e.key, e.item);
    return removed;
  }

  drain(): T[] {
    const all = this.heap.map((e) => e.item);
    this.heap = [];
    return all;
  }

  private pop(): T | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < n && h[l]!.key < (m === i ? last.key : h[m]!.key)) m = l;
        if (r < n && h[r]!.key < (m === i ? last.key : h[m]!.key)) m = r;
        if (m === i) break;
        h[i] = h[m]!;
        i = m;
      }
      h[i] = last;
    }
    return top?.item;
  }
}
