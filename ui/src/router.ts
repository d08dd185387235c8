// Hash routes (`#/files/cfg_1/.zshrc`): the daemon serves one page at `/`, and a desktop shell
// can wrap it unchanged.

export type Route =
  | { name: "overview" }
  | { name: "configs" }
  | { name: "config-new" }
  | { name: "config-edit"; id: string }
  | { name: "sync" }
  | { name: "files"; config?: string; path?: string }
  | { name: "conflicts" }
  | { name: "settings" }
  | { name: "log" }
  | { name: "login"; expired: boolean };

function dec(s: string | undefined): string | undefined {
  if (s === undefined || s === "") return undefined;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  const [pathPart, query = ""] = raw.split("?", 2);
  const parts = pathPart.split("/");
  switch (parts[0]) {
    case "":
    case "overview":
      return { name: "overview" };
    case "configs":
      if (parts[1] === "new") return { name: "config-new" };
      if (parts[1]) {
        const id = dec(parts[1]);
        if (id) return { name: "config-edit", id };
      }
      return { name: "configs" };
    case "sync":
      return { name: "sync" };
    case "files":
      // The file path is encoded as one segment, so it may hold slashes once decoded.
      return { name: "files", config: dec(parts[1]), path: dec(parts.slice(2).join("/")) };
    case "conflicts":
      return { name: "conflicts" };
    case "settings":
      return { name: "settings" };
    case "log":
      return { name: "log" };
    case "login":
      return { name: "login", expired: new URLSearchParams(query).get("error") === "expired" };
    default:
      return { name: "overview" };
  }
}

let rerender: () => void = () => {};
export function setRerender(f: () => void): void {
  rerender = f;
}

export function navigate(hash: string): void {
  if (location.hash === hash) rerender();
  else location.hash = hash;
}
