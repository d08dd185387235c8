// The overview's machines card: GET /v1/machines folded into "this machine" and "other
// machines" (one row per machine name, whichever remotes it shares with this one).

import type { MachinesView } from "./types";

export interface OtherMachine {
  name: string;
  version: string | null;
  /** Unix seconds, the latest over the remotes. */
  last_seen: number | null;
  reachable: boolean;
  /** `direct` or `relay`, when reachable. */
  via: string | null;
  /** The configs of the remotes it shares with this machine. */
  configs: string[];
}

export interface MachinesSummary {
  name: string;
  version: string;
  /** How this machine is notified: "pokes on udp 127.0.0.1:4000", "relay mqtt://… (connected)". */
  channels: string[];
  /** Problems worth showing (a listener that could not start, a failed presence round). */
  problems: string[];
  others: OtherMachine[];
}

export function summarizeMachines(v: MachinesView): MachinesSummary {
  const me = v.this_machine;
  const channels: string[] = [];
  const problems: string[] = [];
  if (!me.running) {
    channels.push("no daemon: nobody is notified");
  } else {
    if (me.direct && me.listen) channels.push(`pokes on udp ${me.listen}`);
    else if (me.direct) problems.push(`no listener for pokes: ${me.listen_error ?? "unknown"}`);
    else channels.push("direct pokes off");
    if (me.relay) channels.push(`relay ${me.relay} (${me.relay_connected ? "connected" : "not connected"})`);
    if (me.relay_error) problems.push(`relay: ${me.relay_error}`);
  }
  const byName = new Map<string, OtherMachine>();
  for (const r of v.remotes) {
    if (r.error) problems.push(`${r.configs.join(", ")}: ${r.error}`);
    for (const m of r.machines) {
      if (m.this_machine) continue;
      const o = byName.get(m.name) ?? {
        name: m.name,
        version: null,
        last_seen: null,
        reachable: false,
        via: null,
        configs: [],
      };
      if ((m.last_seen ?? -1) >= (o.last_seen ?? -1)) {
        o.last_seen = m.last_seen ?? null;
        o.version = m.version ?? o.version;
      }
      if (m.reachable && !o.reachable) {
        o.reachable = true;
        o.via = m.via ?? null;
      }
      for (const c of r.configs) if (!o.configs.includes(c)) o.configs.push(c);
      byName.set(m.name, o);
    }
  }
  const others = [...byName.values()].sort(
    (a, b) => Number(b.reachable) - Number(a.reachable) || a.name.localeCompare(b.name),
  );
  return { name: me.name, version: me.version, channels, problems, others };
}
