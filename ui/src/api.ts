// Every request of the app goes through here: same origin, the session cookie (sent by the
// browser), and the CSRF header the daemon requires of cookie-authenticated requests (its token
// comes from session.ts, never from a cookie).

import { csrfToken } from "./session";
import type { ApiErrorBody } from "./types";

export const CSRF_HEADER = "X-Dotsync-CSRF";

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The CSRF header of this tab's session; none before sign-in (the daemon then answers 401). */
export function authHeaders(): Record<string, string> {
  const token = csrfToken();
  return token ? { [CSRF_HEADER]: token } : {};
}

/** Turns a failed response into an ApiError with the daemon's code, message and field. */
export async function errorFrom(resp: Response): Promise<ApiError> {
  let body: Partial<ApiErrorBody> | null = null;
  try {
    body = (await resp.json()) as Partial<ApiErrorBody>;
  } catch {
    body = null;
  }
  const e = body?.error;
  if (e && typeof e.message === "string") {
    return new ApiError(resp.status, e.code ?? "unknown", e.message, e.field ?? undefined);
  }
  return new ApiError(resp.status, "http", `the daemon answered HTTP ${resp.status}`);
}

type UnauthorizedHandler = () => void;
let onUnauthorized: UnauthorizedHandler = () => {};
export function setUnauthorizedHandler(f: UnauthorizedHandler): void {
  onUnauthorized = f;
}

export async function request(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<Response> {
  const headers: Record<string, string> = { ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp: Response;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal,
    });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "offline", "cannot reach the dotsync daemon; is `dotsync daemon` running?");
  }
  if (!resp.ok) {
    const err = await errorFrom(resp);
    if (resp.status === 401) onUnauthorized();
    throw err;
  }
  return resp;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const resp = await request(method, path, body);
  if (resp.status === 204) return undefined as T;
  const text = await resp.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string) => api<T>("GET", path);

/** Raw bytes of a file version. */
export async function bytes(path: string): Promise<Uint8Array> {
  const resp = await request("GET", path);
  return new Uint8Array(await resp.arrayBuffer());
}

/** Builds a query string, leaving out undefined values. */
export function qs(params: Record<string, string | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : "";
}

/** Text of a file version, or null when it is binary (NUL bytes or not UTF-8). */
export function decodeText(data: Uint8Array): string | null {
  if (data.includes(0)) return null;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    return null;
  }
}
