// The shapes of the daemon's /v1 API that the app uses, by the names the app gives them. Every
// one is an alias of a schema in api-types.gen.ts, which is generated from the daemon's OpenAPI
// document (`npm run gen:types`; ui/test.sh fails when it is stale): a change of the API is a
// change of these types, and the compiler shows what it breaks.

import type { components } from "./api-types.gen";

type Schemas = components["schemas"];

export type Direction = Schemas["Direction"];
export type OnConflict = Schemas["OnConflict"];
/** A stored config, as GET /v1/config returns it. */
export type SyncConfig = Schemas["SyncConfig"];
/** A config as POST /v1/config and PUT /v1/config/{id} take it. */
export type ConfigInput = Schemas["ConfigInput"];

export type ConfigState = Schemas["SyncState"];
export type ErrorKind = Schemas["ErrorKind"];
export type ConfigStatus = Schemas["ConfigStatus"];
/** GET /v1/status. */
export type DaemonStatus = Schemas["Status"];
export type WatcherStatus = Schemas["WatcherStatus"];

/** One line of GET /v1/log. */
export type LogLine = Schemas["LogLine"];

export type Conflict = Schemas["Conflict"];
export type HistoryEntry = Schemas["HistoryEntry"];
export type FileState = Schemas["FileState"];
/** One file of GET /v1/files. */
export type FileEntry = Schemas["FileStatus"];

export type FsEntry = Schemas["FsEntry"];
export type FsListing = Schemas["FsListing"];

export type Theme = Schemas["Theme"];
export type Settings = Schemas["Settings"];

export type ApiErrorBody = Schemas["ErrorBody"];

/** One line of a sync run: the NDJSON of POST /v1/sync[/{id}] and /v1/preview, and the `data`
 * of the sync events of GET /v1/events. Every line of one run carries the same `run_id`. */
export type SyncLine = Schemas["SyncLine"];
export type FileAction = Schemas["FileAction"];
export type Phase = Schemas["Phase"];
export type Trigger = Schemas["Trigger"];

/** The `data:` of every event of GET /v1/events but `missed`. */
export type DaemonEvent = Schemas["Event"];

/** GET /v1/machines: every machine of each remote. */
export type MachinesView = Schemas["Machines"];
export type MachineInfo = Schemas["MachineView"];
