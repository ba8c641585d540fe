// What the config layer needs to know about a handler type: the keys its
// `[runtime.handlers.<name>]` table takes (a JSON schema, validated like the
// rest of the file so a misspelt key names itself), their defaults, and
// whether the type isolates pods from the host (only such a type may serve
// untrusted pods). The types themselves are registered in src/sandbox/index.ts;
// each one brings its definition from src/config/handlers/<type>.ts.

export type Isolation = 'host' | 'vm';

/** A handler table after validation and defaults: its type and that type's own keys. */
export interface HandlerConfig {
  type: string;
  [key: string]: unknown;
}

export interface HandlerConfigDef<C extends HandlerConfig = HandlerConfig> {
  /** The `type` value that selects it. */
  type: C['type'];
  isolation: Isolation;
  /** JSON schema of the table's keys besides `type`. */
  properties: Record<string, object>;
  defaults(): C;
}
