// The app's shared state and the work that changes it: the live status, the configs, the
// settings and the running sync. Views subscribe and re-render.

import { ApiError, authHeaders, get, request, setUnauthorizedHandler } from "./api";
import { readNdjson } from "./ndjson";
import { forgetToken } from "./session";
import { EventStream, type StreamState } from "./sse";
import { applyStatus, eventPayload, initialState, reduce, type LiveState } from "./state";
import { applyLine, finish, newRun, type SyncRun } from "./syncrun";
import { appLine, eventLine, followEvent, missedEvents, newFollow, type Follow } from "./follow";
import type { DaemonStatus, Settings, SyncConfig } from "./types";

/** Why the app shows the sign-in page: the words it shows with it. */
export type SignedOutReason =
  /** This tab holds no CSRF token: never signed in here, or a new tab. */
  | "no-token"
  /** The daemon no longer knows the session: signed out elsewhere, expired, daemon restarted. */
  | "ended"
  /** The daemon did not answer. */
  | "offline"
  /** The person signed out. */
  | "signed-out";

export interface Store {
  signed_in: boolean | null;
  signed_out_reason: SignedOutReason | null;
  live: LiveState;
  stream: StreamState;
  configs: SyncConfig[] | null;
  settings: Settings | null;
  run: SyncRun | null;
  toasts: { id: number; kind: "info" | "error"; text: string }[];
}

export const store: Store = {
  signed_in: null,
  signed_out_reason: null,
  live: initialState(),
  stream: "closed",
  configs: null,
  settings: null,
  run: null,
  toasts: [],
};

type Listener = () => void;
const listeners = new Set<Listener>();

export function subscribe(f: Listener): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

let scheduled = false;
export function changed(): void {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    for (const f of [...listeners]) f();
  });
}

let toastId = 0;
export function toast(text: string, kind: "info" | "error" = "info"): void {
  const id = ++toastId;
  store.toasts = [...store.toasts, { id, kind, text }];
  changed();
  setTimeout(() => {
    store.toasts = store.toasts.filter((t) => t.id !== id);
    changed();
  }, kind === "error" ? 8000 : 4000);
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** The session is over (the daemon answered 401): its token is worth nothing any more. */
export function sessionEnded(): void {
  forgetToken();
  if (store.signed_in !== false) {
    store.signed_in = false;
    store.signed_out_reason = "ended";
    events?.stop();
    changed();
  }
}

setUnauthorizedHandler(sessionEnded);

export async function loadConfigs(): Promise<SyncConfig[]> {
  const list = await get<SyncConfig[]>("/v1/config");
  store.configs = list;
  changed();
  return list;
}

let refreshing: Promise<void> | null = null;
export function refreshStatus(): Promise<void> {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const st = await get<DaemonStatus>("/v1/status");
      store.live = applyStatus(store.live, st, Date.now());
    } finally {
      refreshing = null;
      changed();
    }
  })();
  return refreshing;
}

let refreshTimer: ReturnType<typeof setTimeout> | null = null;
function refreshSoon(): void {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refreshStatus().catch(() => {});
  }, 250);
}

export type EventHook = (kind: string, data: unknown) => void;
const eventHooks = new Set<EventHook>();
export function onDaemonEvent(f: EventHook): () => void {
  eventHooks.add(f);
  return () => eventHooks.delete(f);
}

let events: EventStream | null = null;
/** The run_ids of the app's own syncs, whose events the Live sync view skips (follow.ts). */
let follow: Follow = newFollow();

/** Keeps the Live sync view on syncs the app did not start. */
function followSync(kind: string, data: unknown): void {
  if (kind === "missed") {
    ({ run: store.run, follow } = missedEvents(store.run, follow));
    return;
  }
  const line = eventLine(kind, data);
  if (line) ({ run: store.run, follow } = followEvent(store.run, follow, line));
}

export function connectEvents(): void {
  events?.stop();
  events = new EventStream({
    url: "/v1/events",
    headers: authHeaders,
    onState: (s) => {
      const wasClosed = store.stream !== "open";
      store.stream = s;
      // After a reconnect the status may have moved on while we were away.
      if (s === "open" && wasClosed) refreshSoon();
      changed();
    },
    onUnauthorized: sessionEnded,
    onMessage: (m) => {
      let raw: unknown = null;
      try {
        raw = m.data ? JSON.parse(m.data) : null;
      } catch {
        raw = null;
      }
      const data = eventPayload(m.event, raw);
      const id = Number(m.id) || 0;
      store.live = reduce(store.live, { id, kind: m.event, data });
      followSync(m.event, data);
      if (m.event === "config_changed") loadConfigs().catch(() => {});
      if (store.live.needs_refresh) refreshSoon();
      for (const f of eventHooks) f(m.event, data);
      changed();
    },
  });
  events.start();
}

/** Starts "Sync now" for one config (id) or for all (null). One run at a time; a sync the
 * daemon started is queued behind by the daemon, and the view switches to this one. */
export async function startSync(
  target: string | null,
  label: string,
  rewind?: "push-local" | "take-remote",
): Promise<void> {
  if (store.run && store.run.source === "app" && !store.run.finished) {
    toast("a sync is already running; wait for it to finish", "error");
    return;
  }
  store.run = newRun(target, label);
  changed();
  try {
    const base = target ? `/v1/sync/${encodeURIComponent(target)}` : "/v1/sync";
    const path = rewind ? `${base}?rewind=${rewind}` : base;
    const resp = await request("POST", path);
    if (!resp.body) throw new Error("the daemon sent no stream");
    for await (const line of readNdjson(resp.body)) {
      follow = appLine(follow, line);
      store.run = applyLine(store.run, line);
      changed();
    }
    store.run = finish(store.run);
  } catch (e) {
    store.run = finish(store.run!, errorText(e));
  }
  changed();
  refreshSoon();
}

export async function loadSettings(): Promise<Settings | null> {
  try {
    store.settings = await get<Settings>("/v1/settings");
  } catch {
    store.settings = null;
  }
  changed();
  return store.settings;
}

export async function signOut(): Promise<void> {
  try {
    await request("POST", "/v1/session/logout");
  } finally {
    forgetToken();
    events?.stop();
    store.signed_in = false;
    store.signed_out_reason = "signed-out";
    changed();
  }
}
