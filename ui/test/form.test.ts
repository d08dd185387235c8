import { describe, expect, it } from "vitest";
import { ApiError, qs, decodeText } from "../src/api";
import { configToForm, emptyForm, formToInput, placeError } from "../src/form";
import { parseRoute } from "../src/router";

describe("the config form", () => {
  it("turns inputs into the API's body", () => {
    const f = { ...emptyForm(), name: " dots ", paths: ["~/.zshrc", " "], ignore: "*.log\n\n  *.tmp ", remote: "/r.git", interval_s: " 30 " };
    const { input, errors } = formToInput(f);
    expect(errors).toEqual({});
    expect(input).toEqual({
      name: "dots",
      paths: ["~/.zshrc"],
      ignore: ["*.log", "*.tmp"],
      remote: "/r.git",
      branch: "main",
      direction: "both",
      on_conflict: "keep-both",
      auto: true,
      interval_s: 30,
      notify: true,
      structured_merge: true,
      encrypt: [],
      per_machine: [],
      plaintext: [],
      machines: [],
    });
  });

  it("sends the id back when editing", () => {
    expect(formToInput(emptyForm(), "cfg_1").input?.id).toBe("cfg_1");
  });

  it("refuses an interval that is not a number, next to that field", () => {
    const { input, errors } = formToInput({ ...emptyForm(), interval_s: "soon" });
    expect(input).toBeNull();
    expect(Object.keys(errors)).toEqual(["interval_s"]);
  });

  it("round-trips a stored config", () => {
    const cfg = { id: "cfg_1", name: "d", paths: ["~/.a"], ignore: ["x", "y"], remote: "r", branch: "b", direction: "pull" as const, on_conflict: "local" as const, auto: false, interval_s: 9, notify: false, structured_merge: false, merge_formats: { "*.conf": "ini" }, encrypt: [".ssh/**", ".npmrc"], per_machine: [".config/monitors.xml"], plaintext: [".config/app/id"], machines: ["laptop", "desk"] };
    const { input } = formToInput(configToForm(cfg), cfg.id);
    expect(input).toEqual(cfg);
  });

  it("places a server error next to the field it names, else on top", () => {
    expect(placeError(new ApiError(400, "invalid", "outside your home", "paths"))).toEqual({ field: "paths", message: "outside your home" });
    expect(placeError(new ApiError(400, "duplicate_name", "taken", "name")).field).toBe("name");
    expect(placeError(new ApiError(400, "invalid", "id mismatch", "id")).field).toBeNull();
    expect(placeError(new ApiError(500, "internal", "boom")).field).toBeNull();
  });
});

describe("api helpers", () => {
  it("encodes query strings and skips undefined", () => {
    expect(qs({ config: "a b", path: ".config/x&y", rev: undefined })).toBe("?config=a+b&path=.config%2Fx%26y");
  });

  it("tells text from binary content", () => {
    expect(decodeText(new TextEncoder().encode("héllo"))).toBe("héllo");
    expect(decodeText(new Uint8Array([104, 0, 105]))).toBeNull();
    expect(decodeText(new Uint8Array([0xff, 0xfe, 0x41]))).toBeNull();
  });
});

describe("routes", () => {
  it("parses the app's hash routes", () => {
    expect(parseRoute("")).toEqual({ name: "overview" });
    expect(parseRoute("#/configs/new")).toEqual({ name: "config-new" });
    expect(parseRoute("#/configs/cfg_1")).toEqual({ name: "config-edit", id: "cfg_1" });
    expect(parseRoute(`#/files/cfg_1/${encodeURIComponent(".config/nvim/init.lua")}`)).toEqual({
      name: "files",
      config: "cfg_1",
      path: ".config/nvim/init.lua",
    });
    expect(parseRoute("#/files/%E0%A4%A")).toEqual({ name: "files", config: undefined, path: undefined });
    expect(parseRoute("#/login?error=expired")).toEqual({ name: "login", expired: true });
    expect(parseRoute("#/nowhere")).toEqual({ name: "overview" });
  });
});
