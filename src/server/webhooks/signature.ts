// Webhook signatures, Stripe-style, so receivers can use a familiar recipe:
//   Sundial-Signature: t=1700000000,v1=<hex>,v1=<hex>
// v1 = hex(HMAC-SHA256(secret, `${t}.${rawBody}`)), one entry per active secret. During
// a rotation two secrets are active (SUNDIAL_WEBHOOK_SECRETS="new,old"), so a receiver
// that knows either one accepts the request. `t` lets the receiver refuse replays
// older than its tolerance. docs/webhooks.md shows the receiver side in ten lines.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Sundial-Signature';

/** `body` as text or as its UTF-8 bytes: the same bytes are signed either way. */
export function sign(secret: string, t: number, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
}

export function signatureHeader(secrets: readonly string[], body: string | Buffer, t: number): string {
  let out = `t=${t}`;
  for (const s of secrets) out += `,v1=${sign(s, t, body)}`;
  return out;
}

/**
 * The receiver's check, as documented: true when one v1 entry matches one of the
 * receiver's secrets and the timestamp is within `toleranceSec` of `nowSec`.
 */
export function verifySignature(
  header: string | undefined,
  body: string,
  secrets: readonly string[],
  opts: { toleranceSec?: number; nowSec?: number } = {},
): boolean {
  if (!header) return false;
  const parts = header.split(',').map((p) => p.trim().split('='));
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(t)) return false;
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (opts.toleranceSec ?? 300)) return false;
  const given = parts.filter(([k, v]) => k === 'v1' && v && /^[0-9a-f]{64}$/.test(v)).map(([, v]) => Buffer.from(v!, 'hex'));
  return secrets.some((s) => {
    const expected = Buffer.from(sign(s, t, body), 'hex');
    return given.some((g) => timingSafeEqual(g, expected));
  });
}
