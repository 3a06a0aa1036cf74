import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { FJG_ERR_TOKEN_CERT_MISMATCH, FJG_ERR_TOKEN_CERT_MISSING, FJG_ERR_TOKEN_NOT_BOUND, type FjgError } from './errors.js'
import type { JsonValue, VerifiedJwt } from './types.js'

// Certificate-bound access tokens (RFC 8705 §3): a token whose
// `cnf["x5t#S256"]` is the base64url SHA-256 of the DER of the client
// certificate it was issued to is only good on a TLS connection that
// presented that certificate. Stolen, it is useless. The binding is checked
// per request, after verification: the verified-token cache holds the token,
// never the connection it came on (a cache hit from another client's
// certificate is refused).

/** The verified client certificate of a connection, as far as this package needs it. */
export interface PeerCertificate {
  /** DER bytes. */
  readonly der: Buffer
  /** base64url(SHA-256(DER)): RFC 8705 §3.1 `x5t#S256`. */
  readonly thumbprint: string
}

interface TlsLike {
  authorized?: boolean
  getPeerCertificate?: (detailed?: boolean) => { raw?: Buffer } | null
}

// One certificate per TLS connection: hashed once, on its first request.
// Keyed by the socket object (over HTTP/2, the session's socket proxy).
const byConnection = new WeakMap<object, PeerCertificate | null>()

/**
 * The client certificate of the request's TLS connection, or null: none was
 * sent, it did not verify against the listener's CA (`socket.authorized`;
 * with `requestCert` and `rejectUnauthorized: false` Node accepts any
 * certificate), or the connection is not TLS.
 */
export function peerCertificate (request: FastifyRequest): PeerCertificate | null {
  const socket = request.raw.socket as unknown as (TlsLike & object) | null | undefined
  if (socket == null || typeof socket.getPeerCertificate !== 'function') return null
  const known = byConnection.get(socket)
  if (known !== undefined) return known
  let found: PeerCertificate | null = null
  if (socket.authorized === true) {
    const raw = socket.getPeerCertificate(false)?.raw
    if (Buffer.isBuffer(raw) && raw.length > 0) {
      found = Object.freeze({ der: raw, thumbprint: createHash('sha256').update(raw).digest('base64url') })
    }
  }
  byConnection.set(socket, found)
  return found
}

export type CertificateBound = true | false | 'if-present'

/** Null when the binding is fine, else the error to deny with. */
export type BindingCheck = (request: FastifyRequest, jwt: VerifiedJwt) => FjgError | null

function boundThumbprint (payload: Record<string, JsonValue>): JsonValue | undefined {
  const cnf = payload.cnf
  if (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf)) return undefined
  return Object.prototype.hasOwnProperty.call(cnf, 'x5t#S256') ? cnf['x5t#S256'] : undefined
}

/**
 * The per-request check of `certificateBound`, or null when the policy does
 * not ask for one (no hook work at all). `true`: the token must carry
 * `cnf["x5t#S256"]`; `"if-present"`: a token without it passes (a bearer
 * token), one with it is held to it.
 */
export function compileBindingCheck (mode: CertificateBound | undefined): BindingCheck | null {
  if (mode === undefined || mode === false) return null
  const required = mode === true
  return function checkBinding (request, jwt) {
    const bound = boundThumbprint(jwt.payload)
    if (bound === undefined) return required ? new FJG_ERR_TOKEN_NOT_BOUND() as FjgError : null
    const cert = peerCertificate(request)
    if (cert === null) return new FJG_ERR_TOKEN_CERT_MISSING() as FjgError
    // Both sides are public values (a hash of a certificate the client sent): no timing concern.
    if (typeof bound !== 'string' || bound !== cert.thumbprint) return new FJG_ERR_TOKEN_CERT_MISMATCH() as FjgError
    return null
  }
}
