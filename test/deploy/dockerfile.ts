// A small reader for the repository's Dockerfile and .dockerignore, enough for the deploy tests
// to check the image recipe and to replay it outside Docker. It understands the instructions the
// Dockerfile uses and refuses any other, so a new instruction gets a deliberate decision here
// instead of being skipped silently.
import { readFileSync } from 'node:fs';

export interface Instruction {
  /** upper-cased keyword: FROM, RUN, COPY, … */
  keyword: string;
  /** the rest of the logical line, continuations joined */
  args: string;
  line: number;
}

export interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}

const KNOWN = new Set([
  'FROM', 'WORKDIR', 'COPY', 'RUN', 'ENV', 'USER', 'EXPOSE', 'HEALTHCHECK', 'STOPSIGNAL', 'ENTRYPOINT', 'CMD',
]);

/** Logical lines: comments dropped, backslash continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  let buffer = '';
  let startLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    const trimmed = raw.trim();
    if (buffer === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    // Comment lines inside a continuation are removed by Docker too.
    if (buffer !== '' && trimmed.startsWith('#')) continue;
    if (buffer === '') startLine = i + 1;
    if (trimmed.endsWith('\\')) {
      buffer += trimmed.slice(0, -1).trimEnd() + ' ';
      continue;
    }
    buffer += trimmed;
    const match = /^(\S+)\s*([\s\S]*)$/.exec(buffer);
    if (!match) throw new Error(`Dockerfile line ${startLine}: cannot parse "${buffer}"`);
    const keyword = match[1]!.toUpperCase();
    if (!KNOWN.has(keyword)) {
      throw new Error(`Dockerfile line ${startLine}: ${keyword} is not understood by test/deploy/dockerfile.ts; teach it there`);
    }
    out.push({ keyword, args: match[2]!.trim(), line: startLine });
    buffer = '';
  }
  if (buffer !== '') throw new Error('Dockerfile ends inside a line continuation');
  return out;
}

export function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile line ${ins.line}: unexpected FROM "${ins.args}"`);
      stages.push({ image: m[1]!, name: m[2] ?? String(stages.length), instructions: [] });
    } else {
      const current = stages.at(-1);
      if (!current) throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before FROM`);
      current.instructions.push(ins);
    }
  }
  return stages;
}

export function readStages(path: string): Stage[] {
  return stagesOf(parseDockerfile(readFileSync(path, 'utf8')));
}

/** Exec form (JSON array) or shell form, as Docker runs them. */
export function commandOf(args: string): string[] {
  if (args.startsWith('[')) {
    const parsed: unknown = JSON.parse(args);
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
      throw new Error(`not a JSON array of strings: ${args}`);
    }
    return parsed;
  }
  return ['/bin/sh', '-c', args];
}

/** ENV key=value pairs (the only ENV form the Dockerfile uses; values may be double-quoted). */
export function envOf(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  let consumed = '';
  for (const m of args.matchAll(re)) {
    const value = m[2]!.startsWith('"') ? m[2]!.slice(1, -1).replace(/\\(.)/g, '$1') : m[2]!;
    env[m[1]!] = value;
    consumed += m[0];
  }
  if (consumed.replace(/\s/g, '').length !== args.replace(/\s/g, '').length) {
    throw new Error(`ENV "${args}": only key=value pairs are supported`);
  }
  return env;
}

export interface CopySpec {
  from?: string;
  sources: string[];
  dest: string;
}

export function copyOf(args: string): CopySpec {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    const m = /^--from=(.+)$/.exec(flag);
    if (!m) throw new Error(`COPY flag ${flag} is not supported by the recipe test`);
    from = m[1];
  }
  if (words.length < 2) throw new Error(`COPY needs a source and a destination: "${args}"`);
  const dest = words.pop()!;
  return { from, sources: words, dest };
}

export interface Healthcheck {
  options: Record<string, string>;
  command: string[];
}

export function healthcheckOf(args: string): Healthcheck {
  const options: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)=(\S+)\s+/.exec(rest);
    if (!m) break;
    options[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  const m = /^CMD\s+([\s\S]+)$/.exec(rest);
  if (!m) throw new Error(`HEALTHCHECK must be "HEALTHCHECK [options] CMD …": "${args}"`);
  return { options, command: commandOf(m[1]!) };
}

/**
 * .dockerignore as Docker reads it: patterns relative to the context root, `*` and `?` within
 * one path segment, `**` across segments, `!` re-includes, the last matching pattern wins, and
 * a path is excluded when it or one of its parent folders is.
 */
export function dockerignoreMatcher(text: string): (relativePath: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).trim().replace(/^\/+/, '').replace(/\/+$/, '');
      return { negate, re: globToRegExp(pattern) };
    });
  const matchesOne = (path: string): boolean => {
    let excluded = false;
    for (const rule of rules) if (rule.re.test(path)) excluded = !rule.negate;
    return excluded;
  };
  return (relativePath: string) => {
    const parts = relativePath.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      if (matchesOne(parts.slice(0, i).join('/'))) return true;
    }
    return false;
  };
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` matches zero or more folders; a trailing `**` matches anything below.
      if (pattern[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
