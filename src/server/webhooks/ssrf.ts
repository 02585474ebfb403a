// The SSRF guard. Anyone who may create a task may make this node send HTTP requests,
// so by default a webhook can only reach public unicast addresses: not loopback,
// link-local (169.254.169.254, the cloud metadata service), private, carrier-grade
// NAT, unspecified, multicast or reserved ranges, nor IPv6 forms that tunnel to them
// (IPv4-mapped, NAT64, 6to4, Teredo).
//
// The check runs on the address the socket actually connects to: `guardedLookup` is
// passed to http.request as its `lookup`, so the answer that is checked is the answer
// that is used. A name that resolves to a public address when the task is created and
// to 127.0.0.1 when it fires (DNS rebinding) is refused at fire time. IP literals
// never reach a lookup (Node connects to them directly), so `checkLiteral` covers them.
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

export interface AllowList {
  /** CIDR ranges opened explicitly, e.g. 127.0.0.1/32 for a receiver on this machine */
  ranges: [Addr, number][];
  /** exact host names (lower case), or suffixes for entries written `*.example.com` */
  hosts: Set<string>;
  suffixes: string[];
}

export const EMPTY_ALLOW_LIST: AllowList = { ranges: [], hosts: new Set(), suffixes: [] };

/** Parses SUNDIAL_WEBHOOK_ALLOW: comma-separated CIDR ranges, IP addresses and host names. */
export function parseAllowList(spec: string | undefined): AllowList {
  const list: AllowList = { ranges: [], hosts: new Set(), suffixes: [] };
  for (const raw of (spec ?? '').split(',')) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry.includes('/')) {
      if (!ipaddr.isValidCIDR(entry)) throw new Error(`"${entry}" is not a valid CIDR range`);
      const [addr, bits] = ipaddr.parseCIDR(entry);
      list.ranges.push(normalizeRange(addr, bits));
    } else if (ipaddr.isValid(entry.replace(/^\[|\]$/g, ''))) {
      const addr = ipaddr.process(entry.replace(/^\[|\]$/g, ''));
      list.ranges.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
    } else if (/^\*\.[a-z0-9.-]+$/.test(entry)) {
      list.suffixes.push(entry.slice(1));
    } else if (/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(entry)) {
      list.hosts.add(entry);
    } else {
      throw new Error(`"${entry}" is neither a CIDR range, an IP address nor a host name`);
    }
  }
  return list;
}

/** ::ffff:10.0.0.0/104 is the same range as 10.0.0.0/8; compare like with like. */
function normalizeRange(addr: Addr, bits: number): [Addr, number] {
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [addr, bits];
}

export function hostAllowed(hostname: string, allow: AllowList): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return allow.hosts.has(h) || allow.suffixes.some((s) => h.endsWith(s));
}

function inAllowedRange(addr: Addr, allow: AllowList): boolean {
  return allow.ranges.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));
}

/**
 * Why an address may not be connected to, or null when it may. IPv4-mapped IPv6
 * addresses are judged as the IPv4 address they stand for.
 */
export function addressVerdict(address: string, allow: AllowList = EMPTY_ALLOW_LIST): string | null {
  let addr: Addr;
  try {
    addr = ipaddr.process(address);
  } catch {
    return `${address} is not an IP address`;
  }
  if (inAllowedRange(addr, allow)) return null;
  let range: string = addr.range();
  // ::/96 (deprecated IPv4-compatible addresses) is reported as unicast by ipaddr.js
  if (addr.kind() === 'ipv6' && range === 'unicast' && (addr as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0)) {
    range = 'ipv4Compatible';
  }
  if (range === 'unicast') return null;
  return `${address} is a ${RANGE_NAMES[range] ?? range} address`;
}

const RANGE_NAMES: Record<string, string> = {
  loopback: 'loopback',
  linkLocal: 'link-local',
  private: 'private',
  uniqueLocal: 'private (unique local)',
  unspecified: 'unspecified',
  carrierGradeNat: 'carrier-grade NAT',
  multicast: 'multicast',
  broadcast: 'broadcast',
  reserved: 'reserved',
  ipv4Mapped: 'IPv4-mapped',
  rfc6052: 'NAT64',
  '6to4': '6to4',
  teredo: 'Teredo',
  ipv4Compatible: 'IPv4-compatible',
};

/** Raised when a target is refused by the guard; never retried. */
export class BlockedTargetError extends Error {
  readonly code = 'SUNDIAL_BLOCKED_TARGET';
}

/** For a URL host that is an IP literal (already normalized by the URL parser). */
export function checkLiteral(hostname: string, allow: AllowList): void {
  const bare = hostname.replace(/^\[|\]$/g, '');
  if (!isIP(bare)) return;
  const verdict = addressVerdict(bare, allow);
  if (verdict) throw new BlockedTargetError(`refused by the SSRF guard: ${verdict}`);
}

export type LookupFn = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemLookup: LookupFn = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/**
 * A `lookup` for http.request that resolves as usual and keeps only the addresses the
 * guard accepts; if none is left the connection fails with BlockedTargetError. Node
 * calls it with `all: true` when it races IPv4 and IPv6 (autoSelectFamily), with a
 * single-address callback otherwise; both forms are answered.
 */
export function guardedLookup(allow: AllowList, resolve: LookupFn = systemLookup) {
  return (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const open = hostAllowed(hostname, allow);
      const usable = open ? addresses : addresses.filter((a) => !addressVerdict(a.address, allow));
      if (!usable.length) {
        const verdict = addresses.length ? addressVerdict(addresses[0]!.address, allow) : 'no address';
        return callback(new BlockedTargetError(`refused by the SSRF guard: ${hostname} resolves to ${verdict}`), []);
      }
      if (options.all) callback(null, usable);
      else callback(null, usable[0]!.address, usable[0]!.family);
    });
  };
}
