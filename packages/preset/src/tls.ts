import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isAbsolute, resolve } from 'node:path'
import { createSecureContext, type SecureContextOptions } from 'node:tls'
import type { FastifyBaseLogger } from 'fastify'
import { FJG_ERR_CONFIG_INVALID } from './errors.js'
import type { ServerConfig } from './gateway.js'

// The edge TLS of the preset (issue 16): `server.tls` files read, checked
// (a certificate that does not match its key, or an unreadable CA, stops the
// start with the option's path, as `nginx -t` does), handed to buildGateway;
// the reload that swaps the certificate of a running listener; and the
// plain-HTTP listener of `server.redirectHttp`.

type TlsConfig = NonNullable<ServerConfig['tls']>

/** Days before expiry from which `check` (and the start's log) warn about the certificate. */
export const CERT_EXPIRY_WARNING_DAYS = 30
const DAY = 86_400_000

/** The PEMs of `server.tls` and the parsed certificate. */
export interface LoadedTls {
  /** cert, key and ca as PEM, for buildGateway's `https` and `setSecureContext`. */
  readonly https: Pick<SecureContextOptions, 'cert' | 'key' | 'ca'>
  readonly certificate: X509Certificate
}

/** Absolute paths of the files, against the config's folder. */
function filesOf (tls: TlsConfig, baseDir: string): { cert: string, key: string, ca: string | undefined } {
  const abs = (f: string): string => isAbsolute(f) ? f : resolve(baseDir, f)
  return { cert: abs(tls.cert), key: abs(tls.key), ca: tls.ca === undefined ? undefined : abs(tls.ca) }
}

function readPem (file: string, at: string, problems: string[]): string | null {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a folder' : (err as Error).message
    problems.push(`${at}: cannot read ${file}: ${why}`)
    return null
  }
}

/**
 * Reads and checks `server.tls`: the certificate and the CA parse, the key
 * parses and is the certificate's (X509Certificate.checkPrivateKey), and Node
 * accepts them together. Returns the problems, one `path: message` each,
 * instead of throwing, for the reload to log them.
 */
export function readTls (tls: TlsConfig, baseDir: string): { loaded: LoadedTls | null, problems: string[] } {
  const files = filesOf(tls, baseDir)
  const problems: string[] = []
  const certPem = readPem(files.cert, 'server.tls.cert', problems)
  const keyPem = readPem(files.key, 'server.tls.key', problems)
  const caPem = files.ca === undefined ? undefined : readPem(files.ca, 'server.tls.ca', problems)
  let certificate: X509Certificate | null = null
  let key: KeyObject | null = null
  if (certPem !== null) {
    try {
      certificate = new X509Certificate(certPem)
    } catch {
      problems.push(`server.tls.cert: ${files.cert} is not a PEM certificate`)
    }
  }
  if (keyPem !== null) {
    try {
      key = createPrivateKey(keyPem)
    } catch {
      // Never the file's content: it is a private key.
      problems.push(`server.tls.key: ${files.key} is not an unencrypted PEM private key`)
    }
  }
  if (typeof caPem === 'string') {
    try {
      // eslint-disable-next-line no-new -- parsing is the check
      new X509Certificate(caPem)
    } catch {
      problems.push(`server.tls.ca: ${files.ca as string} is not a PEM certificate`)
    }
  }
  if (certificate !== null && key !== null && !certificate.checkPrivateKey(key)) {
    problems.push(`server.tls.key: ${files.key} is not the private key of the certificate in ${files.cert}`)
  }
  if (problems.length > 0 || certificate === null || certPem === null || keyPem === null) return { loaded: null, problems }
  const https = { cert: certPem, key: keyPem, ...(typeof caPem === 'string' ? { ca: caPem } : {}) }
  try {
    // What the listener would do with them: the whole chain and CA bundle, not only their first blocks.
    createSecureContext({ ...https, minVersion: tls.minVersion ?? 'TLSv1.2' })
  } catch (err) {
    return { loaded: null, problems: [`server.tls: the certificate, key or CA cannot be used: ${(err as Error).message}`] }
  }
  return { loaded: { https, certificate }, problems: [] }
}

/** `readTls` for the start and `check`: a UserError naming every problem. */
export function loadTls (tls: TlsConfig, baseDir: string, source = 'config'): LoadedTls {
  const { loaded, problems } = readTls(tls, baseDir)
  if (loaded === null) throw new FJG_ERR_CONFIG_INVALID(`${source}: invalid configuration`, problems)
  return loaded
}

/** An expired, not yet valid, or soon expiring certificate: `path: message` lines (check prints them, start logs them). */
export function certificateWarnings (certificate: X509Certificate, now = Date.now()): string[] {
  const notAfter = Date.parse(certificate.validTo)
  const notBefore = Date.parse(certificate.validFrom)
  const until = new Date(notAfter).toISOString()
  if (notAfter <= now) return [`server.tls.cert: the certificate expired on ${until}`]
  if (notBefore > now) return [`server.tls.cert: the certificate is not valid before ${new Date(notBefore).toISOString()}`]
  const days = Math.floor((notAfter - now) / DAY)
  if (days < CERT_EXPIRY_WARNING_DAYS) return [`server.tls.cert: the certificate expires in ${days} day${days === 1 ? '' : 's'}, on ${until}`]
  return []
}

/** The part of a TLS server reloadTls uses: https.Server and Http2SecureServer both have it. */
interface SecureServer {
  setSecureContext (options: SecureContextOptions): void
}

/**
 * Swaps the certificate and key (and CA) of a running TLS listener, read
 * again from `server.tls`'s files: new handshakes use them, connections
 * already open keep the ones they were made with. A pair that does not load
 * or match keeps the old one; the log says why. Resolves to whether it
 * swapped; never throws. The SIGHUP reload calls it with the new config.
 */
export function reloadTls (server: SecureServer, tls: TlsConfig, baseDir: string, log: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>): boolean {
  const { loaded, problems } = readTls(tls, baseDir)
  if (loaded === null) {
    log.error({ tls: { problems } }, `tls: reload refused, the current certificate stays: ${problems.join('; ')}`)
    return false
  }
  return applyTls(server, loaded, tls, log)
}

/**
 * The second half of reloadTls, for a pair already read and checked (the
 * SIGHUP reload reads it once with the rest of the config): swaps it in and
 * logs the new certificate, or keeps the old one and logs why.
 */
export function applyTls (server: SecureServer, loaded: LoadedTls, tls: TlsConfig, log: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>): boolean {
  try {
    server.setSecureContext({ ...loaded.https, minVersion: tls.minVersion ?? 'TLSv1.2' })
  } catch (err) {
    log.error({ tls: { problems: [(err as Error).message] } }, `tls: reload refused, the current certificate stays: ${(err as Error).message}`)
    return false
  }
  const c = loaded.certificate
  log.info({ tls: { serial: c.serialNumber, subject: c.subject.split('\n').reverse().join(','), validTo: new Date(c.validTo).toISOString() } }, 'tls: certificate reloaded, new connections use it')
  for (const w of certificateWarnings(c)) log.warn(`tls: ${w}`)
  return true
}

/**
 * What a reload cannot change on a running listener (its kind, and whether it
 * asks for client certificates are fixed when the server is made): one
 * `path: message` per change, empty when the new config fits the listener.
 */
export function listenerChanges (running: ServerConfig | undefined, next: ServerConfig | undefined): string[] {
  const a = running?.tls
  const b = next?.tls
  if ((a === undefined) !== (b === undefined)) {
    return [`server.tls: turning TLS ${b === undefined ? 'off' : 'on'} needs a restart (the listener is ${a === undefined ? 'plain HTTP' : 'TLS'})`]
  }
  const out: string[] = []
  const h2 = (s: ServerConfig | undefined): boolean => s?.http2 === true
  if (h2(running) !== h2(next)) out.push(`server.http2: changing it from ${String(h2(running))} to ${String(h2(next))} needs a restart`)
  if (a?.clientAuth !== b?.clientAuth) out.push(`server.tls.clientAuth: changing it from ${a?.clientAuth ?? '(none)'} to ${b?.clientAuth ?? '(none)'} needs a restart`)
  return out
}

/** A host name or address as a Host header may carry it (no userinfo, path or spaces): nothing else goes in the Location. */
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/

/**
 * `server.redirectHttp`: a plain-HTTP server that answers every request with
 * 308 to `https://<host>:<tlsPort><path>` (nginx `return 308
 * https://$host$request_uri`); 308 keeps the method and body. The host is the
 * request's Host without its port, else `fallbackHost`; a Host that is not a
 * plain host name is answered 400.
 */
export function createRedirectServer (tlsPort: number, fallbackHost: string): Server {
  const port = tlsPort === 443 ? '' : `:${tlsPort}`
  return createServer(function redirect (req: IncomingMessage, res: ServerResponse) {
    const header = req.headers.host
    if (header !== undefined && !HOST.test(header)) {
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end('Bad Request: invalid Host header\n')
      return
    }
    const host = header === undefined ? fallbackHost : header.replace(/:\d+$/, '')
    // A request target is absolute-path (origin-form); anything else goes to "/".
    const path = typeof req.url === 'string' && req.url.startsWith('/') ? req.url : '/'
    res.writeHead(308, { location: `https://${host}${port}${path}`, 'content-length': '0' }).end()
    req.resume()
  })
}

/** Listens with the redirect server on host:port; `close` stops it and its connections. */
export async function startRedirect (host: string, port: number, tlsPort: number, fallbackHost: string, log: Pick<FastifyBaseLogger, 'info'>): Promise<{ port: number, close (): Promise<void> }> {
  const server = createRedirectServer(tlsPort, fallbackHost)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port }, () => resolve())
  })
  const actual = (server.address() as AddressInfo).port
  log.info(`fastify-jwt-gateway redirecting http://${fallbackHost}:${actual} to https (308)`)
  return {
    port: actual,
    close: () => new Promise((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }
}
