// What needs the person, and the small wordings the overview, the log and the live sync share.
// Pure functions (unit tested in test/needs.test.ts).

import type { ConfigStatus, LogLine } from "./types";

export interface Need {
  kind: "conflict" | "failed-file" | "error";
  config: string;
  config_id: string;
  /** One sentence: what is wrong. */
  text: string;
  /** The way out. */
  action: string;
  /** Where the way out is in the app, if it is there. */
  href: string | null;
  /** Git's own words, folded away by default. */
  details: string | null;
}

/** A daemon error as one clear sentence, and git's details (after "(git: ") apart. */
export function splitError(message: string): { sentence: string; details: string | null } {
  const at = message.indexOf(" (git: ");
  if (at < 0) return { sentence: message, details: null };
  const details = message.slice(at + 7).replace(/\)$/, "");
  return { sentence: message.slice(0, at), details: details || null };
}

/** The way out of a config's error, by its kind. */
export function wayOut(kind: string | null | undefined): string {
  switch (kind) {
    case "offline":
      return "Nothing to do: your edits are kept and the daemon retries by itself.";
    case "remote_not_found":
      return "Create the repository (git init --bare -b main PATH, or a new empty one on your git host), or edit the config's remote.";
    case "auth":
      return "Make `git ls-remote REMOTE` work without a prompt (ssh key or token), then Sync now.";
    case "rewound":
      return "Choose on the config's card: push this machine's files back, or take the remote's.";
    case "mass_delete":
      return "If those deletions are what you want, run `dotsync sync NAME --allow-mass-delete`.";
    case "rejected":
      return "Allow pushes to the branch on the remote, or use another branch.";
    case "remote_locked":
      return "If no push is running there, remove the branch's .lock file on the remote.";
    case "disk_full":
      return "Free some disk space, then Sync now.";
    default:
      return "Fix what the message says, then Sync now.";
  }
}

/** Everything that waits for the person, conflicts first. */
export function needs(configs: ConfigStatus[]): Need[] {
  const out: Need[] = [];
  for (const c of configs) {
    if (c.conflicts > 0) {
      out.push({
        kind: "conflict",
        config: c.name,
        config_id: c.id,
        text: c.conflicts === 1 ? "1 file in conflict" : `${c.conflicts} files in conflict`,
        action: "Compare both versions, then keep one or edit the result.",
        href: "#/conflicts",
        details: null,
      });
    }
    for (const f of c.failed_files) {
      out.push({
        kind: "failed-file",
        config: c.name,
        config_id: c.id,
        text: `~/${f.path} could not be synced: ${f.reason}`,
        action: "Fix what is in its way; it stays listed until a sync can write it.",
        href: null,
        details: null,
      });
    }
    // A remote that is down recovers by itself: not something the person must do.
    if (c.last_error && c.state === "error") {
      const { sentence, details } = splitError(c.last_error);
      out.push({
        kind: "error",
        config: c.name,
        config_id: c.id,
        text: sentence,
        action: wayOut(c.last_error_kind),
        href: null,
        details,
      });
    }
  }
  return out;
}

/** A log line's action as a word for the recent-changes feed. */
export function changeWord(action: string): string | null {
  switch (action) {
    case "pushed":
      return "sent";
    case "pulled":
      return "received";
    case "merged":
      return "merged";
    case "deleted":
      return "deleted";
    case "conflict":
      return "conflict";
    case "resolved":
      return "resolved";
    default:
      return null;
  }
}

/** Where a change came from: the machine the daemon names, else what the action implies. */
export function changeOrigin(l: LogLine, me: string): string {
  if (l.machine) return `from ${l.machine}`;
  if (l.action === "pushed") return `from ${me}`;
  if (l.action === "pulled" || l.action === "merged") return "from another machine";
  return "here";
}
