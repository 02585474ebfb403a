import type { ServerEvent } from '../shared/schemas.js';

type Listener = (e: ServerEvent) => void;

/** Fans change hints out to this node's event-stream clients. */
export class EventHub {
  private listeners = new Set<Listener>();

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get size(): number {
    return this.listeners.size;
  }

  publish(e: ServerEvent): void {
    for (const fn of this.listeners) fn(e);
  }
}
