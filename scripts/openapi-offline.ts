// The OpenAPI document as a running node serves it, built without a database: route
// registration touches none.
import { buildHttp, openApiDocument } from '../dist/server/api/server.js';
import { EventHub } from '../dist/server/events.js';
import { VERSION } from '../dist/server/version.js';

export async function openApiDocumentOffline(): Promise<Record<string, unknown>> {
  const app = await buildHttp({
    sql: null as never,
    clock: { now: () => new Date() } as never,
    nodeId: 'offline',
    version: VERSION,
    lookaheadMs: 2000,
    hub: new EventHub(),
    metrics: {} as never,
    readiness: async () => null,
    collectMetrics: async () => {},
    logger: false,
  });
  await app.ready();
  const doc = openApiDocument(app);
  await app.close();
  return doc;
}
