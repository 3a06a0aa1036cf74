import { X509Certificate } from 'node:crypto'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { headerValue, peerCertificate, type PeerCertificate } from '@fastify-jwt-gateway/jwt-auth/internal'
import { FJG_ERR_CLIENT_CERT_REQUIRED, sendAnswer } from './errors.js'
import { wireValue, type Forwarder } from './forward.js'
import type { ClientCertField, RouteConfig } from './types.js'

// The verified client certificate of a mutual-TLS listener (server.tls.clientAuth),
// per route: `clientCert: "required"` refuses requests that came without one
// (ssl_verify_client on, for a route of an "optional" listener), and
// `clientCertHeaders` forwards what nginx configs pass as $ssl_client_s_dn,
// $ssl_client_i_dn, $ssl_client_serial and a thumbprint. Only a certificate
// that verified against the listener's CA counts (jwt-auth peerCertificate).

interface Described { subject: string, issuer: string, serial: string }
// Parsed once per connection (a PeerCertificate is one per TLS connection).
const described = new WeakMap<PeerCertificate, Described>()

/**
 * Node prints a name one RDN per line, most general first, with RFC 4514
 * escapes (`O=Acme\, Inc.`); RFC 4514 §2.1 writes them most specific first,
 * comma-separated, as nginx's $ssl_client_s_dn: `CN=alice,O=Test Org`.
 */
function rfc4514 (name: string): string {
  return name.split('\n').reverse().join(',')
}

function describe (cert: PeerCertificate): Described {
  let d = described.get(cert)
  if (d === undefined) {
    const x = new X509Certificate(cert.der)
    d = { subject: rfc4514(x.subject), issuer: rfc4514(x.issuer), serial: x.serialNumber }
    described.set(cert, d)
  }
  return d
}

function fieldValue (cert: PeerCertificate, field: ClientCertField): string {
  if (field === 'x5t#S256') return cert.thumbprint
  return describe(cert)[field]
}

/** onRequest of a `clientCert: "required"` route: 403 without a verified client certificate. */
export function requireClientCert (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (peerCertificate(request) !== null) return done()
  request.log.info({ tls: { reason: 'FJG_ERR_CLIENT_CERT_REQUIRED', route: request.routeOptions.url } }, 'tls: denied: no verified client certificate')
  sendAnswer(reply, FJG_ERR_CLIENT_CERT_REQUIRED)
}

/** The header names every route strips: those any route's clientCertHeaders writes. */
export function clientCertHeaderNames (routes: readonly RouteConfig[]): string[] {
  const names = new Set<string>()
  for (const r of routes) for (const name of Object.keys(r.clientCertHeaders ?? {})) names.add(name.toLowerCase())
  return [...names]
}

type OutgoingHeaders = Parameters<Forwarder['http']>[1]

/**
 * Wraps a route's forwarder: inbound copies of every client-certificate
 * header of the gateway are removed (also spelled with `_`, which CGI-style
 * upstreams read as the same variable), then this route's are written from
 * the connection's certificate. Returns the forwarder itself when the gateway
 * forwards none.
 */
export function withClientCertHeaders (fwd: Forwarder, route: RouteConfig, strip: readonly string[]): Forwarder {
  if (strip.length === 0) return fwd
  const stripSet = new Set(strip.map((n) => n.replace(/_/g, '-')))
  const writes = Object.entries(route.clientCertHeaders ?? {}).map(([name, field]) => [name.toLowerCase(), field] as const)

  function write (request: FastifyRequest, out: OutgoingHeaders): OutgoingHeaders {
    for (const name of Object.keys(out)) {
      // Names are lower case here (Node's request headers); `_` spellings normalized before the lookup.
      if (stripSet.has(name.indexOf('_') === -1 ? name : name.replace(/_/g, '-'))) delete out[name]
    }
    if (writes.length === 0) return out
    const cert = peerCertificate(request)
    if (cert === null) return out
    for (const [name, field] of writes) {
      const v = headerValue(fieldValue(cert, field))
      if (v !== null) out[name] = wireValue(v)
    }
    return out
  }

  return {
    http: (request, headers) => write(request, fwd.http(request, headers)),
    ws: (headers, request) => write(request, fwd.ws(headers, request)),
    claims: fwd.claims,
    query: fwd.query
  }
}
