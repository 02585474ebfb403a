import { readFileSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { Tx } from './db.js';

/** The nice value given to backends doing bulk work (0 is normal, 19 the lowest). */
export const BULK_NICE = 10;
/** After this many backends that are not on this machine, stop asking. */
const REMOTE_GIVE_UP = 4;

/**
 * Bulk writes (a batch import) run in PostgreSQL backends at a lower CPU priority when
 * PostgreSQL shares this machine (the embedded default). On two cores, four backends
 * inserting a million rows beside the node and its receivers kept every core busy, and
 * each webhook the timer fired meanwhile waited its turn for a core: the steady
 * stream's p99 went from 8 ms to 40–75 ms (docs/api.md, "Firing beside an import").
 * At nice 10 a backend yields the core to the node's timer, and still gets every
 * cycle nobody else wants, so an import alone is as fast as before (15.6 s against
 * 15.7 s for a million, docs/api.md).
 *
 * A backend is ours to renice only if this machine's process of that pid is a
 * PostgreSQL backend serving our connection: its title (`postgres: user db
 * 127.0.0.1(port) …`) names the client port the server sees. A server on another host
 * or in another pid namespace fails that check, and after a few such backends the
 * marker stops asking. Lowering the priority of one's own processes needs no privilege;
 * a server run by another user refuses (EPERM) and is left as it is.
 *
 * A nice value alone did not lower the backend's share of the cores where Linux groups
 * processes by session (`kernel.sched_autogroup_enabled`, the default of desktop and
 * many VM kernels, for processes outside a cgroup of their own): each PostgreSQL backend
 * leads a session of its own (it calls setsid), so its scheduling group competed as an
 * equal of the node's whole session, and nice ranks threads only inside their group.
 * Sampled through an import (/proc/…/schedstat at each 1-ms tick), the node's event loop
 * stalled more than 3 ms 346 times in the minute of the stream outside garbage
 * collection, against 119 without the import, 277 of them waiting for a core rather
 * than running. So a backend that leads its own session gets the same nice value for
 * its group too (`/proc/<pid>/autogroup`); a group that holds other processes is left
 * alone.
 */
export class BulkPriority {
  private readonly seen = new Set<number>();
  private remote = 0;

  constructor(private readonly nice = BULK_NICE) {}

  /** Call first in a bulk transaction: its backend is reniced once, on its first use. */
  async mark(tx: Tx): Promise<void> {
    if (this.remote >= REMOTE_GIVE_UP) return;
    const [me] = await tx<{ pid: number; port: number | null }[]>`select pg_backend_pid() as pid, inet_client_port() as port`;
    if (!me || this.seen.has(me.pid)) return;
    // pids are reused: forget the old ones now and then (a pool has a handful of backends)
    if (this.seen.size > 64) this.seen.clear();
    this.seen.add(me.pid);
    if (!isLocalBackend(me.pid, me.port)) {
      this.remote++;
      return;
    }
    try {
      setPriority(me.pid, this.nice);
    } catch {
      // not ours to change (another user's server): it keeps its priority
      return;
    }
    lowerSessionGroup(me.pid, this.nice);
  }
}

/** Gives the scheduling group (autogroup) of `pid` the nice value `nice` if `pid` leads a session of its own; false where it was not changed. */
export function lowerSessionGroup(pid: number, nice: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // after the name: state ppid pgrp session …
    const session = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
    if (session !== pid) return false;
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
    return true;
  } catch {
    // no autogroups in this kernel, or not ours to change
    return false;
  }
}

/** True when this machine's process `pid` is a PostgreSQL backend serving client port `port`. */
export function isLocalBackend(pid: number, port: number | null): boolean {
  let title: string;
  try {
    title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return false;
  }
  if (!title.startsWith('postgres:')) return false;
  return port === null ? title.includes('[local]') : title.includes(`(${port})`);
}
