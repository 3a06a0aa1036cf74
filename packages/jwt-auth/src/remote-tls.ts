import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { createSecureContext } from 'node:tls'
import type { KeySourceTls } from './types.js'

// TLS toward a remote key source (issue 12.2): a private CA, a client
// certificate for mutual TLS, the name to verify. nginx: the
// proxy_ssl_trusted_certificate / proxy_ssl_certificate(_key) / proxy_ssl_name /
// proxy_ssl_verify of the location that serves auth_jwt_key_request. The same
// shape and checks as a gateway route's `tls` (gateway upstream-tls.ts).
// KeySourceTls is typed from the schema, in types.ts.

export type { KeySourceTls }

/** undici's `connect` TLS options. */
export interface ConnectTls {
  ca?: string
  cert?: string
  key?: string
  servername?: string
  rejectUnauthorized: boolean
}

/**
 * Reads the files of a `tls` object (relative to `baseDir`) and checks that
 * they make a TLS context: problems as `path: message`, all at once.
 */
export function loadKeySourceTls (tls: KeySourceTls, baseDir: string | undefined, where: string): { connect: ConnectTls, problems: string[] } {
  const connect: ConnectTls = { rejectUnauthorized: tls.rejectUnauthorized !== false }
  const problems: string[] = []
  for (const name of ['ca', 'cert', 'key'] as const) {
    const file = tls[name]
    if (file === undefined) continue
    const path = isAbsolute(file) ? file : resolve(baseDir ?? process.cwd(), file)
    try {
      const text = readFileSync(path, 'utf8')
      if (!text.includes('-----BEGIN ')) problems.push(`${where}.${name}: ${path} is not a PEM file`)
      else connect[name] = text
    } catch (err) {
      problems.push(`${where}.${name}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) problems.push(`${where}: "cert" and "key" go together (a client certificate needs its key)`)
  if (tls.servername !== undefined) connect.servername = tls.servername
  if (problems.length === 0 && (connect.ca !== undefined || connect.cert !== undefined)) {
    try {
      // A wrong key for the certificate, or a PEM that is not a certificate, fails here at start.
      createSecureContext({ ca: connect.ca, cert: connect.cert, key: connect.key })
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`)
    }
  }
  return { connect, problems }
}
