import type { Redis } from 'ioredis'
import type { JwtPolicy, RevocationKind } from '@fastify-jwt-gateway/jwt-auth'
import type { GatewayConfig } from '@fastify-jwt-gateway/gateway'
import { FJG_ERR_CLI_USAGE, FJG_ERR_REVOKE_STORE } from './errors.js'

// The config loader, jwt-auth and ioredis are loaded once the command line is
// known to be right: a usage mistake is answered at once.
const lib = async () => await import('@fastify-jwt-gateway/jwt-auth/internal')
/** jwt-auth's DEFAULT_REVOCATION_PREFIX, without loading jwt-auth for it. */
const DEFAULT_PREFIX = 'fjg:'

// `fastify-jwt-gateway revoke`: writes to the Redis store(s) the config's
// policies read (`revocation.redis`). Several routes may name different ones:
// a revoke goes to EVERY distinct url + prefix, so no route keeps accepting a
// token the operator meant to kill. A store that fails is named; exit 1.

export interface RevokeValues {
  config?: string
  sub?: string
  kid?: string
  jti?: string
  ttl?: string
  list?: boolean
  remove?: boolean
}

export interface Store { url: string, prefix: string }

/** Every distinct Redis store a policy of the config reads, in config order. */
export function revocationStores (config: GatewayConfig): Store[] {
  const out: Store[] = []
  const add = (p: JwtPolicy | false | undefined): void => {
    const r = p === false || p === undefined ? undefined : p.revocation?.redis
    if (r === undefined) return
    const s = { url: r.url, prefix: r.prefix ?? DEFAULT_PREFIX }
    if (!out.some((o) => o.url === s.url && o.prefix === s.prefix)) out.push(s)
  }
  add(config.jwt)
  // A route's `revocation` replaces the inherited one (policies merge key by key).
  for (const route of config.routes) add(route.jwt)
  return out
}

function target (values: RevokeValues): { kind: RevocationKind, value: string } | null {
  const given = (['sub', 'kid', 'jti'] as const).filter((k) => values[k] !== undefined)
  if (given.length > 1) throw new FJG_ERR_CLI_USAGE(`give one of --sub, --kid, --jti, got ${given.map((k) => `--${k}`).join(' and ')}`)
  if (given.length === 0) return null
  const kind = given[0] as RevocationKind
  const value = values[kind] as string
  if (value.length === 0) throw new FJG_ERR_CLI_USAGE(`--${kind} needs a value`)
  return { kind, value }
}

function ttlOf (raw: string | undefined): number | null {
  if (raw === undefined) return null
  if (!/^[1-9]\d*$/.test(raw)) throw new FJG_ERR_CLI_USAGE(`--ttl must be a whole number of seconds, got '${raw}'`)
  return Number(raw)
}

async function connect (store: Store): Promise<Redis> {
  const { Redis } = await import('ioredis')
  const { redisOptions } = await lib()
  // No retries: a CLI says at once that a store is unreachable.
  const client = new Redis(store.url, redisOptions({ retryStrategy: () => null }))
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (err) {
    client.disconnect()
    throw err
  }
  return client
}

export async function revokeCommand (values: RevokeValues, out: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const what = target(values)
  const ttl = ttlOf(values.ttl)
  if (values.list === true && (what !== null || values.remove === true || ttl !== null)) {
    throw new FJG_ERR_CLI_USAGE('--list takes no --sub/--kid/--jti, --remove or --ttl')
  }
  if (values.list !== true && what === null) throw new FJG_ERR_CLI_USAGE('give --sub, --kid or --jti (or --list)')
  if (values.remove === true && ttl !== null) throw new FJG_ERR_CLI_USAGE('--remove takes no --ttl')

  const file = (await import('./start.js')).resolveConfigFile(values.config)
  if (file === null) throw new FJG_ERR_CLI_USAGE('revoke needs a config: --config <file> (no ./gateway.json here)')
  const { loadConfig } = await import('./config.js')
  const { loadRevoked, revokeInRedis, safeUrl, unrevokeInRedis } = await lib()
  const { config } = loadConfig(file, env)
  const stores = revocationStores(config)
  if (stores.length === 0) throw new FJG_ERR_CLI_USAGE(`${file}: no policy has "revocation": { "redis": ... }; nothing to write to`)

  const failed: string[] = []
  for (const store of stores) {
    const name = `${safeUrl(store.url)} (prefix ${store.prefix})`
    let client: Redis | null = null
    try {
      client = await connect(store)
      if (values.list === true) {
        const lists = await loadRevoked(client, store.prefix)
        out.write(`${name}:\n`)
        for (const kind of ['sub', 'kid', 'jti'] as const) {
          for (const [value, until] of lists[kind]) {
            out.write(`  ${kind} ${JSON.stringify(value)} ${until === Infinity ? 'for good' : `until ${new Date(until).toISOString()}`}\n`)
          }
        }
      } else if (values.remove === true) {
        const { kind, value } = what as { kind: RevocationKind, value: string }
        const was = await unrevokeInRedis(client, store.prefix, kind, value)
        out.write(`${name}: ${kind} ${JSON.stringify(value)} ${was ? 'no longer revoked' : 'was not revoked'}\n`)
      } else {
        const { kind, value } = what as { kind: RevocationKind, value: string }
        await revokeInRedis(client, store.prefix, kind, value, ttl)
        out.write(`${name}: ${kind} ${JSON.stringify(value)} revoked ${ttl === null ? 'for good' : `for ${ttl} s`}\n`)
      }
    } catch (err) {
      failed.push(`${name}: ${(err as Error).message}`)
    } finally {
      client?.disconnect()
    }
  }
  if (failed.length > 0) {
    throw new FJG_ERR_REVOKE_STORE(`${failed.length} of ${stores.length} revocation store${stores.length === 1 ? '' : 's'} failed`, failed)
  }
  return 0
}
