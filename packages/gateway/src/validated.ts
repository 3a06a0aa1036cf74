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
// and the listen address from it first) gets it back deep-frozen and marked:
// buildGateway does not check it again, and nothing can change it in between.
// Only plain JSON values are frozen and marked; a config holding anything else
// (a Buffer, a function) is returned as checked but unmarked, and checked again.
const checkedConfigs = new WeakSet<object>()

const NOT_JSON = Symbol('not JSON')

/** A deep copy of plain objects, arrays and primitives, frozen; NOT_JSON when anything else is inside. */
function frozenJson (value: unknown): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint' ? NOT_JSON : value
  if (Array.isArray(value)) {
    const out: unknown[] = []
    for (const v of value) {
      const c = frozenJson(v)
      if (c === NOT_JSON) return NOT_JSON
      out.push(c)
    }
    return Object.freeze(out)
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return NOT_JSON
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    const c = frozenJson(v)
    if (c === NOT_JSON) return NOT_JSON
    out[k] = c
  }
  return Object.freeze(out)
}

/**
 * The config checked whole (schema and policies), or a GatewayConfigError
 * listing every problem. What comes back is a frozen copy that buildGateway
 * builds without checking it again: one check per start.
 */
export function checkGatewayConfig (config: unknown): GatewayConfig {
  const problems = gatewayConfigProblems(config)
  if (problems.length > 0) throw new GatewayConfigError(problems)
  const frozen = frozenJson(config)
  if (frozen === NOT_JSON) return config as GatewayConfig
  checkedConfigs.add(frozen as object)
  return frozen as GatewayConfig
}

/** True for a config returned frozen by `checkGatewayConfig`. */
export function wasChecked (config: object): boolean {
  return checkedConfigs.has(config)
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
