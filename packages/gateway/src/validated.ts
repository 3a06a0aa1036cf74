import { GatewayConfigError } from './errors.js'
import { gatewayConfigProblems } from './schema.js'
import type { GatewayConfig, GatewayPluginOptions } from './types.js'

// One validation per start (issue 11): buildGateway checks the config, then
// registers the plugin with options made here from a private copy of what it
// checked; the plugin recognises them and does not check them again. A copy,
// so that nothing a caller changes after the check (the plugin loads later,
// at ready) reaches what is built. Options from anywhere else, such as an
// application registering the plugin itself, are checked by the plugin.
const checked = new WeakSet<object>()

/** Plain objects and arrays copied all the way down; functions (`require`) and other values kept as they are. */
function copyJson<T> (value: T): T {
  if (Array.isArray(value)) return value.map(copyJson) as T
  if (value === null || typeof value !== 'object') return value
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = copyJson(v)
  return out as T
}

// A host that checks a config before building it (the preset reads server.tls
// and the listen address from it first) has it remembered with its JSON text
// as checked: buildGateway skips the check when the config still reads the
// same, and checks again when anything in it changed since (the config stays
// the caller's to change, as the examples do). A config holding what JSON
// cannot show (a function, a Buffer) is not remembered, and is checked again.
const checkedConfigs = new WeakMap<object, string>()

/** The JSON text of plain objects, arrays and primitives; null when anything else is inside. */
function jsonText (value: unknown): string | null {
  let plain = true
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint' || typeof v === 'undefined') {
      if (typeof v !== 'undefined') plain = false
      return v
    }
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const proto = Object.getPrototypeOf(v)
      if (proto !== Object.prototype && proto !== null) plain = false
    }
    return v
  })
  return plain && typeof text === 'string' ? text : null
}

/**
 * The config checked whole (schema and policies), or a GatewayConfigError
 * listing every problem. The config is returned as it is; buildGateway builds
 * it without a second check as long as it reads the same (one check per start).
 */
export function checkGatewayConfig (config: unknown): GatewayConfig {
  const problems = gatewayConfigProblems(config)
  if (problems.length > 0) throw new GatewayConfigError(problems)
  const text = jsonText(config)
  if (text !== null) checkedConfigs.set(config as object, text)
  return config as GatewayConfig
}

/** True for a config `checkGatewayConfig` accepted and that has not changed since. */
export function wasChecked (config: object): boolean {
  const text = checkedConfigs.get(config)
  return text !== undefined && text === jsonText(config)
}

/** Plugin options for a config that `gatewayConfigProblems` has just accepted (call it in the same synchronous step). */
export function validatedOptions (config: GatewayConfig, extra: Pick<GatewayPluginOptions, 'baseDir' | 'aggregateMetrics'>): GatewayPluginOptions {
  const options: GatewayPluginOptions = { ...copyJson(config), ...extra }
  checked.add(options)
  return options
}

/** True for options made by `validatedOptions`. */
export function wasValidated (options: object): boolean {
  return checked.has(options)
}
