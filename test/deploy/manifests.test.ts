// Static checks of the deployment files: the Dockerfile's shape, docker-compose.yml, and the
// Kubernetes manifests. No Docker engine or Kubernetes cluster is needed; where the real tools
// are installed (a Compose CLI, kubectl) they validate the files as well, offline.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { commandOf, copyOf, dockerignoreMatcher, envOf, healthcheckOf, readStages } from './dockerfile.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** "15s", "1m30s" → milliseconds (the Compose duration format). */
function durationMs(value: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let matched = '';
  for (const m of value.matchAll(re)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    matched += m[0];
  }
  if (matched !== value) throw new Error(`not a duration: ${value}`);
  return total;
}

describe('Dockerfile', () => {
  const stages = readStages(join(root, 'Dockerfile'));
  const build = stages[0]!;
  const runtime = stages.at(-1)!;
  const of = (stage: typeof build, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

  it('is multi-stage on node:20-bookworm-slim: build, then runtime', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    for (const s of stages) expect(s.image).toBe('node:20-bookworm-slim');
  });

  it('builds with the full dependency tree and ships only production dependencies', () => {
    const buildRuns = of(build, 'RUN').map((i) => i.args);
    expect(buildRuns.some((r) => /^npm ci\b/.test(r) && !r.includes('--omit=dev'))).toBe(true);
    expect(buildRuns).toContain('npm run build');
    const runtimeRuns = of(runtime, 'RUN').map((i) => i.args).join('\n');
    expect(runtimeRuns).toMatch(/npm ci --omit=dev\b/);
    expect(runtimeRuns).not.toMatch(/npm run build|--ignore-scripts/);
    const copies = of(runtime, 'COPY').map((i) => copyOf(i.args));
    // Exactly the runtime's needs: manifests, bin/, and the built dist/ from the build stage.
    expect(copies).toEqual([
      { from: undefined, sources: ['package.json', 'package-lock.json'], dest: './' },
      { from: undefined, sources: ['bin'], dest: './bin' },
      { from: 'build', sources: ['/app/dist'], dest: './dist' },
    ]);
  });

  it('runs as a non-root user, behind tini, with the CLI start command', () => {
    const users = of(runtime, 'USER').map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users.at(-1));
    // USER comes after every RUN: nothing runs as root at container start.
    const lastUser = runtime.instructions.findLastIndex((i) => i.keyword === 'USER');
    const lastRun = runtime.instructions.findLastIndex((i) => i.keyword === 'RUN');
    expect(lastUser).toBeGreaterThan(lastRun);
    expect(of(runtime, 'RUN').map((i) => i.args).join('\n')).toMatch(/apt-get install [^&]*\btini\b/);
    expect(commandOf(of(runtime, 'ENTRYPOINT').at(-1)!.args)).toEqual(['/usr/bin/tini', '--']);
    expect(commandOf(of(runtime, 'CMD').at(-1)!.args)).toEqual(['node', 'bin/sundial.js', 'serve']);
    const stop = of(runtime, 'STOPSIGNAL').at(-1)?.args ?? 'SIGTERM';
    expect(stop).toBe('SIGTERM');
  });

  it('listens on all interfaces, on the exposed port, configured by the CLI environment variables', () => {
    const env = Object.assign({}, ...of(runtime, 'ENV').map((i) => envOf(i.args)));
    expect(env.HOST).toBe('0.0.0.0');
    expect(of(runtime, 'EXPOSE').map((i) => i.args)).toEqual([env.PORT]);
    // No database baked in: DATABASE_URL comes from the deployment.
    expect(env.DATABASE_URL).toBeUndefined();
    for (const name of Object.keys(env)) {
      expect(['NODE_ENV', 'HOST', 'PORT', 'LOG_LEVEL', 'SUNDIAL_NODE_ID', 'SUNDIAL_DATA_DIR', 'DATABASE_URL']).toContain(name);
    }
  });

  it('has a HEALTHCHECK on /readyz that needs no curl', () => {
    const checks = of(runtime, 'HEALTHCHECK');
    expect(checks).toHaveLength(1);
    const hc = healthcheckOf(checks[0]!.args);
    expect(hc.command[0]).toBe('node');
    expect(hc.command.join(' ')).toContain('/readyz');
    expect(hc.command.join(' ')).toContain('process.env.PORT');
    expect(durationMs(hc.options.timeout!)).toBeLessThan(durationMs(hc.options.interval!));
  });

  it('.dockerignore keeps node_modules, dist, data and test output out of the context', () => {
    const ignored = dockerignoreMatcher(read('.dockerignore'));
    for (const path of [
      'node_modules', 'node_modules/fastify/package.json', 'src/web/node_modules/x', 'dist/server/main.js',
      'data/PG_VERSION', '.tmp/x', 'test-results/report.xml', 'coverage/lcov.info', 'server.log', '.git/HEAD', '.env',
    ]) {
      expect(ignored(path), path).toBe(true);
    }
    // …and keeps what the build reads.
    for (const path of [
      'package.json', 'package-lock.json', 'tsconfig.base.json', 'tsconfig.server.json', 'tsconfig.web.json',
      'vite.config.ts', 'src/server/config.ts', 'src/web/index.html', 'scripts/copy-sql.js', 'bin/sundial.js',
    ]) {
      expect(ignored(path), path).toBe(false);
    }
  });
});

describe('docker-compose.yml', () => {
  const text = read('docker-compose.yml');
  // Compose resolves YAML merge keys (`<<: *anchor`); so does this parse.
  const compose: Doc = parse(text, { merge: true });
  const services: Record<string, Doc> = compose.services;
  const nodes = ['sundial-1', 'sundial-2', 'sundial-3'];

  it('has PostgreSQL, three Sundial nodes and one proxy', () => {
    expect(Object.keys(services).sort()).toEqual(['postgres', 'proxy', ...nodes].sort());
  });

  it('runs PostgreSQL 17 from the official image on a named volume, with a health check', () => {
    const pg = services.postgres;
    expect(pg.image).toBe('postgres:17');
    const [volume, target] = String(pg.volumes[0]).split(':');
    expect(target).toBe('/var/lib/postgresql/data');
    expect(Object.keys(compose.volumes)).toContain(volume);
    expect(pg.healthcheck.test.join(' ')).toContain(`pg_isready -U ${pg.environment.POSTGRES_USER} -d ${pg.environment.POSTGRES_DB}`);
    expect(pg.ports).toBeUndefined();
  });

  it('starts each node from the one image once PostgreSQL is healthy, and checks /readyz', () => {
    const pg = services.postgres.environment;
    const ids = new Set<string>();
    for (const name of nodes) {
      const s = services[name];
      expect(s.build, name).toBe('.');
      expect(s.image, name).toBe('sundial:local');
      expect(s.depends_on, name).toEqual({ postgres: { condition: 'service_healthy' } });
      expect(s.healthcheck.test.join(' '), name).toContain(`127.0.0.1:${s.environment.PORT}/readyz`);
      expect(s.ports, `${name} is reached through the proxy only`).toBeUndefined();
      expect(s.restart).toBe('unless-stopped');
      // Graceful drain takes up to 10 s; Compose must not SIGKILL before that.
      expect(durationMs(s.stop_grace_period)).toBeGreaterThan(10_000);
      const env = s.environment;
      expect(env.HOST).toBe('0.0.0.0');
      // The token is the operator's choice (or generated by the first node), never written here.
      expect(env.SUNDIAL_API_TOKEN).toBe('${SUNDIAL_API_TOKEN:-}');
      const url = new URL(env.DATABASE_URL);
      expect(url.protocol).toBe('postgres:');
      expect([url.hostname, url.port, url.username, url.password, url.pathname]).toEqual([
        'postgres', '5432', pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, `/${pg.POSTGRES_DB}`,
      ]);
      ids.add(env.SUNDIAL_NODE_ID);
    }
    expect(ids.size).toBe(nodes.length);
  });

  it('publishes one port, on a proxy that spreads over all three nodes and fails over', () => {
    const proxy = services.proxy;
    const published = Object.values(services).flatMap((s: Doc) => s.ports ?? []);
    expect(published).toEqual(proxy.ports);
    expect(proxy.ports).toHaveLength(1);
    expect(proxy.image).toMatch(/^caddy:2/);
    for (const name of nodes) expect(proxy.depends_on[name]).toEqual({ condition: 'service_started' });

    const mount = proxy.volumes.find((v: string) => v.includes('/etc/caddy/Caddyfile'));
    const caddyfile = readFileSync(join(root, mount.split(':')[0]), 'utf8');
    // "${SUNDIAL_PORT:-8080}:8080": host port overridable, container port after the last colon.
    const containerPort = String(proxy.ports[0]).split(':').at(-1);
    expect(caddyfile).toContain(`:${containerPort} {`);
    const upstreams = /reverse_proxy\s+([^{]+)\{/.exec(caddyfile)![1]!.trim().split(/\s+/);
    expect(upstreams).toEqual(nodes.map((n) => `${n}:${services[n].environment.PORT}`));
    // Failover to the next upstream, passive health, unbuffered SSE.
    expect(caddyfile).toMatch(/^\s*lb_try_duration\s+\d+s$/m);
    expect(caddyfile).toMatch(/^\s*fail_duration\s+\d+s$/m);
    expect(caddyfile).toMatch(/^\s*flush_interval\s+-1$/m);
  });

  it('has a Caddyfile that Caddy accepts, where Caddy is installed', (ctx) => {
    if (!onPath('caddy')) ctx.skip();
    const dir = mkdtempSync(join(tmpdir(), 'sundial-caddy-'));
    try {
      execFileSync('caddy', ['validate', '--config', join(root, 'deploy/compose/Caddyfile'), '--adapter', 'caddyfile'], {
        stdio: 'pipe',
        env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is valid for the Compose CLI, where one is installed (offline: `config` only)', (ctx) => {
    if (onPath('docker') && spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) {
      execFileSync('docker', ['compose', '-f', 'docker-compose.yml', 'config', '--quiet'], { cwd: root, stdio: 'pipe' });
      return;
    }
    if (onPath('docker-compose')) {
      // Debian's docker-compose is v1 (1.29): it reads the file only as format 2.4, which lacks
      // the top-level `name`. Everything else, anchors and merge keys included, it checks as is.
      const dir = mkdtempSync(join(tmpdir(), 'sundial-compose-'));
      try {
        const file = join(dir, 'docker-compose.yml');
        writeFileSync(file, `version: "2.4"\n${text.replace(/^name:.*$/m, '')}`);
        execFileSync('docker-compose', ['-f', file, '--project-directory', root, 'config', '--quiet'], { stdio: 'pipe' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      return;
    }
    ctx.skip();
  });
});

describe('deploy/compose/patroni.yml (the highly available variant)', () => {
  const text = read('deploy/compose/patroni.yml');
  const compose: Doc = parse(text, { merge: true });
  const services: Record<string, Doc> = compose.services;
  const members = ['pg-1', 'pg-2', 'pg-3'];
  const nodes = ['sundial-1', 'sundial-2', 'sundial-3'];
  const patroni: Doc = parse(read('deploy/compose/patroni/patroni.yml'));

  it('runs etcd, three Patroni members, three nodes and the proxy', () => {
    expect(Object.keys(services).sort()).toEqual(['etcd', 'proxy', ...members, ...nodes].sort());
    for (const m of members) {
      expect(services[m].environment.PATRONI_NAME).toBe(m);
      expect(services[m].environment.PATRONI_POSTGRESQL_CONNECT_ADDRESS).toBe(`${m}:5432`);
    }
  });

  it('points every node at all three members, writable one first found', () => {
    for (const n of nodes) {
      const url = services[n].environment.DATABASE_URL as string;
      const hosts = /@([^/]+)\//.exec(url)![1]!.split(',');
      expect(hosts).toEqual(members.map((m) => `${m}:5432`));
      expect(new URL(url.replace(/@[^/]+\//, '@h/')).searchParams.get('target_session_attrs')).toBe('primary');
      expect(Object.keys(services[n].depends_on).sort()).toEqual(members);
    }
  });

  it('ships the failover timings the drill measures, within Patroni\'s rules', () => {
    const dcs = patroni.bootstrap.dcs;
    expect(dcs.synchronous_mode).toBe(true);
    expect(dcs.ttl).toBeGreaterThanOrEqual(20);
    expect(dcs.loop_wait + 2 * dcs.retry_timeout).toBeLessThanOrEqual(dcs.ttl);
    // the drill builds its members' configuration from this very file
    expect(read('bench/chaos-drill.ts')).toContain("'deploy/compose/patroni/patroni.yml'");
  });

  it('is valid for the Compose CLI, where one is installed (offline: `config` only)', (ctx) => {
    const dir = join(root, 'deploy/compose');
    if (onPath('docker') && spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) {
      execFileSync('docker', ['compose', '-f', 'patroni.yml', 'config', '--quiet'], { cwd: dir, stdio: 'pipe' });
      return;
    }
    if (onPath('docker-compose')) {
      const tmp = mkdtempSync(join(tmpdir(), 'sundial-compose-'));
      try {
        const file = join(tmp, 'patroni.yml');
        writeFileSync(file, `version: "2.4"\n${text.replace(/^name:.*$/m, '')}`);
        execFileSync('docker-compose', ['-f', file, '--project-directory', dir, 'config', '--quiet'], { stdio: 'pipe' });
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      return;
    }
    ctx.skip();
  });
});

describe('Kubernetes manifests', () => {
  const dir = join(root, 'deploy/kubernetes');
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e)) files.push(p);
    }
  };
  walk(dir);
  const docs: { file: string; doc: Doc }[] = files.flatMap((file) =>
    parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return { file: relative(root, file), doc: d.toJS() };
    }),
  );
  const byKind = (kind: string) => docs.filter((d) => d.doc?.kind === kind);
  const one = (kind: string) => {
    const found = byKind(kind);
    expect(found, kind).toHaveLength(1);
    return found[0]!.doc;
  };

  const deployment = one('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const podLabels = deployment.spec.template.metadata.labels;
  const selects = (selector: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => podLabels[k] === v) && Object.keys(selector).length > 0;

  it('runs three replicas that never drop below three ready during a rollout', () => {
    expect(deployment.spec.replicas).toBe(3);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(pod.containers).toHaveLength(1);
  });

  it('probes readiness on /readyz and liveness on /healthz, on the container port', () => {
    const port = container.ports.find((p: Doc) => p.name === 'http');
    const env = Object.fromEntries(container.env.filter((e: Doc) => 'value' in e).map((e: Doc) => [e.name, e.value]));
    expect(String(port.containerPort)).toBe(env.PORT);
    expect(env.HOST).toBe('0.0.0.0');
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    // Liveness must tolerate more than readiness: a database outage un-readies pods, it does not
    // restart them all.
    const livenessWindow = container.livenessProbe.periodSeconds * container.livenessProbe.failureThreshold;
    const readinessWindow = container.readinessProbe.periodSeconds * container.readinessProbe.failureThreshold;
    expect(livenessWindow).toBeGreaterThan(readinessWindow);
  });

  it('gives the drain time to finish before the kubelet kills the pod', () => {
    const preStop = container.lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe('sleep');
    const preStopSeconds = Number(preStop[1]);
    // preStop runs first, then SIGTERM; the node exits within 10 s of SIGTERM.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStopSeconds + 10 + 5);
  });

  it('sets resources and runs as the image\'s non-root user with a read-only root filesystem', () => {
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.requests.memory).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBe(1000);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
  });

  it('takes DATABASE_URL from a Secret: the one CloudNativePG generates, or one made the same way', () => {
    const env = container.env.find((e: Doc) => e.name === 'DATABASE_URL');
    const ref = env.valueFrom.secretKeyRef;
    const cluster = one('Cluster');
    expect(ref).toEqual({ name: `${cluster.metadata.name}-app`, key: 'uri' });
    const examples = byKind('Secret').map((d) => d.doc);
    const example = examples.find((d) => d.metadata.name === ref.name);
    expect(new URL(example.stringData[ref.key]).protocol).toBe('postgres:');
    // The admin token comes from a Secret too, and the example satisfies the server's rule.
    const token = container.env.find((e: Doc) => e.name === 'SUNDIAL_API_TOKEN').valueFrom.secretKeyRef;
    const tokenExample = examples.find((d) => d.metadata.name === token.name);
    expect(tokenExample.stringData[token.key].length).toBeGreaterThanOrEqual(16);
    expect(examples).toHaveLength(2);
    const fromSecrets = container.env.filter((e: Doc) => e.valueFrom?.secretKeyRef).map((e: Doc) => e.name);
    expect(fromSecrets.sort()).toEqual(['DATABASE_URL', 'SUNDIAL_API_TOKEN']);
    // The node id is the pod name: unique and recognisable in the UI's cluster view.
    const nodeId = container.env.find((e: Doc) => e.name === 'SUNDIAL_NODE_ID');
    expect(nodeId.valueFrom.fieldRef.fieldPath).toBe('metadata.name');
  });

  it('has a PodDisruptionBudget and a Service that select the Deployment\'s pods', () => {
    const pdb = one('PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true);
    const allowedDown = pdb.spec.maxUnavailable ?? deployment.spec.replicas - pdb.spec.minAvailable;
    expect(allowedDown).toBe(1);
    const service = one('Service');
    expect(selects(service.spec.selector)).toBe(true);
    expect(service.spec.ports[0].targetPort).toBe('http');
  });

  it('documents PostgreSQL as a CloudNativePG cluster of 3 with synchronous replication', () => {
    const cluster = one('Cluster');
    expect(cluster.apiVersion).toBe('postgresql.cnpg.io/v1');
    expect(cluster.spec.instances).toBe(3);
    expect(cluster.spec.postgresql.synchronous).toMatchObject({ method: 'any', dataDurability: 'required' });
    expect(cluster.spec.postgresql.synchronous.number).toBeGreaterThanOrEqual(1);
    expect(cluster.spec.postgresql.synchronous.number).toBeLessThan(cluster.spec.instances);
    expect(cluster.spec.affinity.enablePodAntiAffinity).toBe(true);
    expect(cluster.spec.bootstrap.initdb.database).toBeDefined();
  });

  it('lists only existing files in the kustomizations, and kustomize builds them where kubectl is installed', () => {
    const kustomizations = docs.filter((d) => d.doc?.kind === 'Kustomization');
    expect(kustomizations.map((k) => k.file).sort()).toEqual([
      'deploy/kubernetes/base/kustomization.yaml',
      'deploy/kubernetes/cloudnativepg/kustomization.yaml',
    ]);
    for (const k of kustomizations) {
      for (const r of k.doc.resources as string[]) expect(existsSync(join(root, k.file, '..', r)), `${k.file}: ${r}`).toBe(true);
    }
    if (!onPath('kubectl')) return;
    const built = execFileSync('kubectl', ['kustomize', join(dir, 'cloudnativepg')], { encoding: 'utf8' });
    const kinds = parseAllDocuments(built).map((d) => d.toJS().kind).sort();
    expect(kinds).toEqual(['Cluster', 'Deployment', 'PodDisruptionBudget', 'Service']);
  });
});
