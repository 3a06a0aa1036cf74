import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { createSecureContext } from 'node:tls'

// TLS toward upstreams (issue 12.2): a private CA, a client certificate for
// mutual TLS, the name to verify. nginx: proxy_ssl_trusted_certificate,
// proxy_ssl_certificate(_key), proxy_ssl_name, proxy_ssl_verify. Verification
// stays on unless `rejectUnauthorized: false` is written down.

export interface UpstreamTlsConfig {
  /** PEM file of the CA(s) that sign the upstream's certificate (instead of Node's bundled roots). */
  ca?: string
  /** PEM client certificate, for upstreams that require mutual TLS. */
  cert?: string
  /** PEM private key of `cert`. */
  key?: string
  /** Name checked against the upstream's certificate and sent as SNI (default: the URL's host). */
  servername?: string
  /** Default true. false turns certificate verification off (never in production). */
  rejectUnauthorized?: boolean
}

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
export function loadUpstreamTls (tls: UpstreamTlsConfig | undefined, baseDir: string | undefined, where: string): { connect: ConnectTls, problems: string[] } {
  const connect: ConnectTls = { rejectUnauthorized: tls?.rejectUnauthorized !== false }
  const problems: string[] = []
  if (tls === undefined) return { connect, problems }
  const read = (name: 'ca' | 'cert' | 'key'): void => {
    const file = tls[name]
    if (file === undefined) return
    const path = resolve(baseDir ?? process.cwd(), file)
    try {
      const text = readFileSync(path, 'utf8')
      if (!text.includes('-----BEGIN ')) problems.push(`${where}.${name}: ${path} is not a PEM file`)
      else connect[name] = text
    } catch (err) {
      problems.push(`${where}.${name}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  read('ca')
  read('cert')
  read('key')
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
