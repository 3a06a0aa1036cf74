import { loadKeySourceTls, type ConnectTls, type KeySourceTls } from '@fastify-jwt-gateway/jwt-auth/internal'

// TLS toward upstreams (issue 12.2): a private CA, a client certificate for
// mutual TLS, the name to verify. nginx: proxy_ssl_trusted_certificate,
// proxy_ssl_certificate(_key), proxy_ssl_name, proxy_ssl_verify. Verification
// stays on unless `rejectUnauthorized: false` is written down. The same shape,
// files and checks as a remote key source's `tls` (jwt-auth remote-tls.ts,
// whose loader this is).

/** A route's `tls`: `ca`, `cert` + `key` (PEM files), `servername`, `rejectUnauthorized` (default true). */
export type UpstreamTlsConfig = KeySourceTls
export type { ConnectTls }

/**
 * Reads the files of a `tls` object (relative to `baseDir`) and checks that
 * they make a TLS context: problems as `path: message`, all at once.
 */
export function loadUpstreamTls (tls: UpstreamTlsConfig | undefined, baseDir: string | undefined, where: string): { connect: ConnectTls, problems: string[] } {
  if (tls === undefined) return { connect: { rejectUnauthorized: true }, problems: [] }
  return loadKeySourceTls(tls, baseDir, where)
}
