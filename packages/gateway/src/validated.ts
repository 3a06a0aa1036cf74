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
