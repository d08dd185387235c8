import { describe, expect, it } from "vitest";
import { summarizeMachines } from "../src/machines";
import type { MachinesView } from "../src/types";

const view = (over: Partial<MachinesView["this_machine"]> = {}): MachinesView => ({
  this_machine: {
    name: "laptop",
    version: "0.1.0",
    running: true,
    direct: true,
    listen: "127.0.0.1:4000",
    addrs: ["127.0.0.1:4000"],
    listen_error: null,
    relay: null,
    relay_connected: false,
    relay_error: null,
    ...over,
  },
  remotes: [
    {
      remote: "/r1.git",
      configs: ["dots"],
      remote_id: "a".repeat(32),
      error: null,
      machines: [
        { name: "laptop", this_machine: true, version: "0.1.0", last_seen: 100, addrs: [], reachable: true, via: null },
        { name: "desktop", this_machine: false, version: "0.1.0", last_seen: 50, addrs: [], reachable: false, via: null },
        { name: "server", this_machine: false, version: "0.0.9", last_seen: 10, addrs: [], reachable: false, via: null },
      ],
    },
    {
      remote: "/r2.git",
      configs: ["nvim"],
      remote_id: null,
      error: "cannot publish this machine's presence: denied",
      machines: [
        { name: "laptop", this_machine: true, version: "0.1.0", last_seen: 100, addrs: [], reachable: true, via: null },
        { name: "desktop", this_machine: false, version: "0.2.0", last_seen: 90, addrs: [], reachable: true, via: "relay" },
      ],
    },
  ],
  notify: { received: 0, accepted: 0, malformed: 0, rejected: 0, stale: 0, unknown_remote: 0, checks: 0, pokes_sent: 0, hellos_sent: 0 },
});

describe("the machines card", () => {
  it("lists each other machine once, reachable ones first, with its latest facts", () => {
    const s = summarizeMachines(view());
    expect(s.name).toBe("laptop");
    expect(s.others.map((o) => o.name)).toEqual(["desktop", "server"]);
    expect(s.others[0]).toEqual({
      name: "desktop",
      version: "0.2.0",
      last_seen: 90,
      reachable: true,
      via: "relay",
      configs: ["dots", "nvim"],
    });
    expect(s.channels).toEqual(["pokes on udp 127.0.0.1:4000"]);
    expect(s.problems).toEqual(["nvim: cannot publish this machine's presence: denied"]);
  });

  it("says how this machine is notified, and what is wrong with it", () => {
    const relay = summarizeMachines(view({ direct: false, listen: null, relay: "mqtt://127.0.0.1:1883", relay_connected: true }));
    expect(relay.channels).toEqual(["direct pokes off", "relay mqtt://127.0.0.1:1883 (connected)"]);
    const broken = summarizeMachines(view({ listen: null, listen_error: "address in use" }));
    expect(broken.problems[0]).toBe("no listener for pokes: address in use");
    expect(summarizeMachines(view({ running: false })).channels).toEqual(["no daemon: nobody is notified"]);
  });
});
