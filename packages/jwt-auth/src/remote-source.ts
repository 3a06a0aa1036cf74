import type { RemoteKeySource } from './key-store.js'

export interface RemoteSpec {
  kind: 'jwks' | 'keyval' | 'issuer'
  url: string
  cacheTtl?: number
  timeout?: number
  cooldown?: number
  maxStale?: number
}

export interface RemoteLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

// Remote key sources are not implemented yet (issue 3): refusing them at
// registration is honest; silently accepting would answer 401 to everything.
export function createRemoteSource (spec: RemoteSpec, _log: RemoteLogger): RemoteKeySource {
  throw new Error(`remote key sources ("${spec.kind}") are not supported yet`)
}
