// The config form: between what the inputs hold and the API's ConfigInput, and where a server
// error belongs on the form.

import type { ConfigInput, Direction, OnConflict, SyncConfig } from "./types";
import type { ApiError } from "./api";

export const FIELDS = [
  "name",
  "paths",
  "ignore",
  "remote",
  "branch",
  "direction",
  "on_conflict",
  "auto",
  "interval_s",
  "notify",
  "structured_merge",
  "merge_formats",
  "encrypt",
  "per_machine",
  "plaintext",
  "machines",
] as const;
export type Field = (typeof FIELDS)[number];

export interface ConfigForm {
  name: string;
  paths: string[];
  /** One pattern per line. */
  ignore: string;
  remote: string;
  branch: string;
  direction: Direction;
  on_conflict: OnConflict;
  auto: boolean;
  /** As typed. */
  interval_s: string;
  notify: boolean;
  structured_merge: boolean;
  /** Not edited here; kept as stored so that saving the form does not drop it. */
  merge_formats?: Record<string, string>;
  /** One glob per line. */
  encrypt: string;
  /** One glob per line. */
  per_machine: string;
  /** One glob per line: pushed as they are even when they look like secrets. */
  plaintext: string;
  /** Comma-separated machine names; empty: every machine. */
  machines: string;
}

export function emptyForm(): ConfigForm {
  return {
    name: "",
    paths: [],
    ignore: "",
    remote: "",
    branch: "main",
    direction: "both",
    on_conflict: "keep-both",
    auto: true,
    interval_s: "60",
    notify: true,
    structured_merge: true,
    encrypt: "",
    per_machine: "",
    plaintext: "",
    machines: "",
  };
}

export function configToForm(c: SyncConfig): ConfigForm {
  return {
    name: c.name,
    paths: [...c.paths],
    ignore: c.ignore.join("\n"),
    remote: c.remote,
    branch: c.branch,
    direction: c.direction,
    on_conflict: c.on_conflict,
    auto: c.auto,
    interval_s: String(c.interval_s),
    notify: c.notify,
    structured_merge: c.structured_merge,
    merge_formats: { ...c.merge_formats },
    encrypt: c.encrypt.join("\n"),
    per_machine: c.per_machine.join("\n"),
    plaintext: c.plaintext.join("\n"),
    machines: c.machines.join(", "),
  };
}

export type FieldErrors = Partial<Record<Field, string>>;

/**
 * The API body for a form, or the errors that keep it from being one. Only what the browser
 * must decide itself is checked here (a number that is not a number); every rule about names,
 * paths and remotes is the daemon's, and its answer is shown next to the field.
 */
export function formToInput(f: ConfigForm, id?: string): { input: ConfigInput | null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const interval = f.interval_s.trim();
  if (!/^\d+$/.test(interval)) {
    errors.interval_s = "enter a whole number of seconds, such as 60";
  }
  if (Object.keys(errors).length) return { input: null, errors };
  const input: ConfigInput = {
    name: f.name.trim(),
    paths: f.paths.map((p) => p.trim()).filter((p) => p !== ""),
    ignore: f.ignore
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== ""),
    remote: f.remote.trim(),
    branch: f.branch.trim(),
    direction: f.direction,
    on_conflict: f.on_conflict,
    auto: f.auto,
    interval_s: Number(interval),
    notify: f.notify,
    structured_merge: f.structured_merge,
  };
  if (f.merge_formats) input.merge_formats = { ...f.merge_formats };
  const lines = (s: string) =>
    s
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "");
  input.encrypt = lines(f.encrypt);
  input.per_machine = lines(f.per_machine);
  input.plaintext = lines(f.plaintext);
  input.machines = f.machines
    .split(",")
    .map((m) => m.trim())
    .filter((m) => m !== "");
  if (id) input.id = id;
  return { input, errors };
}

/** Where an API error goes: next to its field when the form has that field, else on top. */
export function placeError(e: Pick<ApiError, "message" | "field" | "code">): {
  field: Field | null;
  message: string;
} {
  const field = e.field && (FIELDS as readonly string[]).includes(e.field) ? (e.field as Field) : null;
  return { field, message: e.message };
}
