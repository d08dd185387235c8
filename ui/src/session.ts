// This tab's CSRF token: the secret that makes the session cookie count.
//
// Browsers send 127.0.0.1's cookies to every port, so any other local server the browser visits
// gets the session cookie; the token must therefore never be a cookie. The daemon hands it over
// once, in the sign-in redirect's fragment (`/#csrf=...`, never sent to any server); the app
// moves it into sessionStorage (scoped to this origin, port included, and to this tab; it
// survives reloads) and takes it out of the address bar and history. A new tab has no token and
// asks for `dotsync ui` again.

const KEY = "dotsync.csrf";
const FRAGMENT = /^#csrf=([0-9a-f]{32,256})$/;

/** Where the token is kept: sessionStorage, or only memory when the browser refuses storage. */
export interface TokenStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

function memoryStore(): TokenStore {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

let fallback: TokenStore | null = null;

function defaultStore(): TokenStore {
  try {
    // Reading the property throws when storage is disabled.
    const s = window.sessionStorage;
    s.getItem(KEY);
    return s;
  } catch {
    fallback ??= memoryStore();
    return fallback;
  }
}

/** The token of the sign-in link this tab came from, if the URL carries one. */
export function tokenInFragment(hash: string): string | null {
  return FRAGMENT.exec(hash)?.[1] ?? null;
}

/**
 * Moves a token from the URL fragment into storage, and replaces the URL with one without it
 * (the same entry in the tab's history, so Back and Reload never show it again). Returns
 * whether the URL held a token. Any other `#csrf=` fragment is dropped too, unused.
 */
export function adoptToken(
  loc: Pick<Location, "hash" | "pathname" | "search"> = location,
  hist: Pick<History, "replaceState" | "state"> = history,
  store: TokenStore = defaultStore(),
): boolean {
  if (!loc.hash.startsWith("#csrf=")) return false;
  const token = tokenInFragment(loc.hash);
  hist.replaceState(hist.state, "", loc.pathname + loc.search);
  if (!token) return false;
  store.setItem(KEY, token);
  return true;
}

export function csrfToken(store: TokenStore = defaultStore()): string | null {
  const t = store.getItem(KEY);
  return t && /^[0-9a-f]+$/.test(t) ? t : null;
}

/** Forgets the token (signed out, or the daemon no longer knows the session). */
export function forgetToken(store: TokenStore = defaultStore()): void {
  store.removeItem(KEY);
}
