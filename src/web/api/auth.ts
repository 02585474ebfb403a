// The API token, when the server requires one (docs/security.md). Kept in localStorage so a
// reload does not ask again; sent as `Authorization: Bearer` by the fetch wrapper and as
// `?access_token=` on the event stream (EventSource cannot send headers). A 401 clears a
// stored token that stopped working and asks for one.
import { useSyncExternalStore } from 'react';

const STORAGE_KEY = 'sundial.apiToken';

export interface AuthState {
  token: string | null;
  /** the server answered 401: the UI must ask for a token */
  required: boolean;
}

function readStored(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: the token lives for this page only
  }
}

let state: AuthState = { token: readStored(), required: false };
const listeners = new Set<() => void>();

function set(next: AuthState) {
  state = next;
  for (const fn of listeners) fn();
}

export function getToken(): string | null {
  return state.token;
}

export function setToken(token: string): void {
  try {
    localStorage.setItem(STORAGE_KEY, token);
  } catch {
    /* kept in memory only */
  }
  set({ token, required: false });
}

export function forgetToken(): void {
  try {
    localStorage.removeItem(STORAGE_KEY);
  } catch {
    /* nothing stored */
  }
  set({ token: null, required: state.required });
}

/**
 * Called by the fetch wrapper on a 401 with the token that request carried. An answer to a
 * request sent before the user signed in must not throw away the token just entered.
 */
export function authRequired(sentWith: string | null): void {
  if (state.token !== sentWith) return;
  if (state.required && !state.token) return;
  if (state.token) forgetToken();
  set({ token: null, required: true });
}

export function useAuth(): AuthState {
  return useSyncExternalStore(
    (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    () => state,
  );
}

/** The event stream's URL, with the token when there is one. */
export function eventsUrl(base: string, token: string | null): string {
  return token ? `${base}${base.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}` : base;
}

/** Checks a token against the server before keeping it: true if accepted. */
export async function tryToken(token: string): Promise<boolean> {
  const res = await fetch('/api/cluster', { headers: { accept: 'application/json', authorization: `Bearer ${token}` } });
  return res.ok;
}
