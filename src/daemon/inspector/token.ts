/**
 * The inspector's door: every route and the WebSocket need the node's token
 * (`?token=T`, `Authorization: Bearer T`, or the `switchback_token` cookie).
 * Compared in constant time over SHA-256 digests, so neither the content nor
 * the length of the token leaks through response timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TOKEN_COOKIE = 'switchback_token';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** True when `offered` is exactly `expected`; an empty expected token opens nothing. */
export function tokenMatches(expected: string, offered: string | undefined): boolean {
  if (offered === undefined || expected.length === 0) return false;
  return timingSafeEqual(digest(expected), digest(offered));
}

/** The token a request carries, wherever it put it. */
export function offeredToken(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
  const fromQuery = url.searchParams.get('token');
  if (fromQuery !== null) return fromQuery;
  const cookie = req.headers.cookie
    ?.split(';')
    .map((part) => part.trim())
    .find((part) => part.startsWith(`${TOKEN_COOKIE}=`));
  if (!cookie) return undefined;
  try {
    return decodeURIComponent(cookie.slice(TOKEN_COOKIE.length + 1));
  } catch {
    return undefined;
  }
}
