// Allocation sampling for a process under load, garbage included: load it with
// `NODE_OPTIONS="--import /abs/path/bench/alloc-profile.mjs" SUNDIAL_ALLOC_PROFILE_DIR=dir`.
// V8's sampling heap profiler normally keeps only what is still alive; with the two
// include flags it also keeps what the scavenger and the mark-compact collected, so the
// profile says where the allocation rate (and so the GC work and heap growth) comes from.
// The profile (.heapprofile, readable by Chrome DevTools) is written when the process exits.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.SUNDIAL_ALLOC_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.enable');
  session.post('HeapProfiler.startSampling', { samplingInterval: 64 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  process.on('exit', () => {
    session.post('HeapProfiler.stopSampling', (err, res) => {
      if (!err) writeFileSync(join(dir, `alloc-${process.pid}.heapprofile`), JSON.stringify(res.profile));
    });
  });
}
