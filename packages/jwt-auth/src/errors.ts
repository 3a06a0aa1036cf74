import createFastifyError, { type FastifyErrorConstructor } from '@fastify/error'

// One table of every error this package produces. Request errors carry the
// HTTP status and a stable code; option errors are thrown at registration.
// test/errors.test.ts pins this table (count, key === code, status).
// A denial is sent as its error (plugin.ts deny): Fastify's error handler
// writes the body, and a host's `setErrorHandler` may reshape it.

/**
 * `createError` of @fastify/error; a request error (4xx) captures no stack
 * trace. It is an answer, not a fault (its stack would only name our hook),
 * denials are the hot path of an attack, and Fastify's error log line would
 * carry that stack for every one of them. Option errors (500) keep theirs.
 */
function createError<C extends string, S extends number> (code: C, message: string, statusCode: S): FastifyErrorConstructor<{ code: C, statusCode: S }> {
  return createFastifyError(code, message, statusCode, Error, statusCode >= 500)
}

// --- option errors (thrown at registration, never in a hook) ---
export const FJG_ERR_OPTION_INVALID = createError('FJG_ERR_OPTION_INVALID', 'Invalid jwt policy: %s', 500)
export const FJG_ERR_OPTION_KEY = createError('FJG_ERR_OPTION_KEY', 'Invalid jwt key: %s', 500)

// --- 401: no token ---
export const FJG_ERR_TOKEN_MISSING = createError('FJG_ERR_TOKEN_MISSING', 'No token was provided', 401)

// --- 401: invalid token (RFC 6750 error="invalid_token") ---
export const FJG_ERR_TOKEN_MALFORMED = createError('FJG_ERR_TOKEN_MALFORMED', 'The token is malformed: %s', 401)
export const FJG_ERR_TOKEN_TOO_LARGE = createError('FJG_ERR_TOKEN_TOO_LARGE', 'The token is larger than %s bytes', 401)
export const FJG_ERR_TOKEN_ALGORITHM = createError('FJG_ERR_TOKEN_ALGORITHM', 'The token algorithm is not allowed', 401)
export const FJG_ERR_TOKEN_CRIT = createError('FJG_ERR_TOKEN_CRIT', 'The token has an unsupported critical header', 401)
export const FJG_ERR_TOKEN_KEY_UNKNOWN = createError('FJG_ERR_TOKEN_KEY_UNKNOWN', 'No key matches the token', 401)
export const FJG_ERR_TOKEN_KEYS_UNAVAILABLE = createError('FJG_ERR_TOKEN_KEYS_UNAVAILABLE', 'The signing keys are unavailable', 401)
export const FJG_ERR_TOKEN_SIGNATURE = createError('FJG_ERR_TOKEN_SIGNATURE', 'The token signature is invalid', 401)
export const FJG_ERR_TOKEN_EXPIRED = createError('FJG_ERR_TOKEN_EXPIRED', 'The token has expired', 401)
export const FJG_ERR_TOKEN_INACTIVE = createError('FJG_ERR_TOKEN_INACTIVE', 'The token is not valid yet', 401)
export const FJG_ERR_TOKEN_CLAIM_TYPE = createError('FJG_ERR_TOKEN_CLAIM_TYPE', 'The token claim %s has an invalid type', 401)
export const FJG_ERR_TOKEN_ISSUER = createError('FJG_ERR_TOKEN_ISSUER', 'The token issuer is not allowed', 401)
export const FJG_ERR_TOKEN_AUDIENCE = createError('FJG_ERR_TOKEN_AUDIENCE', 'The token audience is not allowed', 401)
export const FJG_ERR_TOKEN_REVOKED = createError('FJG_ERR_TOKEN_REVOKED', 'The token has been revoked', 401)
export const FJG_ERR_TOKEN_KID_REQUIRED = createError('FJG_ERR_TOKEN_KID_REQUIRED', 'The token has no kid, which the kid revocation list requires', 401)
export const FJG_ERR_TOKEN_TYPE = createError('FJG_ERR_TOKEN_TYPE', 'The token type (typ) is not %s', 401)
export const FJG_ERR_TOKEN_ISSUED_AT = createError('FJG_ERR_TOKEN_ISSUED_AT', 'The token issue time (iat) is %s', 401)
export const FJG_ERR_TOKEN_TOO_OLD = createError('FJG_ERR_TOKEN_TOO_OLD', 'The token was issued more than %s seconds ago', 401)
// A policy with revocation.redis whose lists were never loaded: fail closed (issue 14).
export const FJG_ERR_TOKEN_REVOCATION_UNAVAILABLE = createError('FJG_ERR_TOKEN_REVOCATION_UNAVAILABLE', 'The revocation lists are unavailable', 401)
// certificateBound (RFC 8705 §3): the token's cnf["x5t#S256"] against this connection's client certificate.
export const FJG_ERR_TOKEN_NOT_BOUND = createError('FJG_ERR_TOKEN_NOT_BOUND', 'The token is not bound to a client certificate', 401)
export const FJG_ERR_TOKEN_CERT_MISSING = createError('FJG_ERR_TOKEN_CERT_MISSING', 'The token is bound to a client certificate and none was presented', 401)
export const FJG_ERR_TOKEN_CERT_MISMATCH = createError('FJG_ERR_TOKEN_CERT_MISMATCH', 'The token is bound to another client certificate', 401)
// decrypt (JWE, RFC 7516): a plain JWS where a JWE is required, a JWE no key opens, a compressed one.
export const FJG_ERR_TOKEN_NOT_ENCRYPTED = createError('FJG_ERR_TOKEN_NOT_ENCRYPTED', 'The token is not encrypted (a JWE is required)', 401)
export const FJG_ERR_TOKEN_DECRYPT = createError('FJG_ERR_TOKEN_DECRYPT', 'The token could not be decrypted', 401)
export const FJG_ERR_TOKEN_ZIP = createError('FJG_ERR_TOKEN_ZIP', 'The token is compressed (zip), which is not accepted', 401)

// --- 403: valid token, requirement failed (RFC 6750 error="insufficient_scope") ---
export const FJG_ERR_CLAIM_REQUIREMENT = createError('FJG_ERR_CLAIM_REQUIREMENT', 'The token does not satisfy the requirement on claim %s', 403)
export const FJG_ERR_HEADER_REQUIREMENT = createError('FJG_ERR_HEADER_REQUIREMENT', 'The token does not satisfy the requirement on header %s', 403)
export const FJG_ERR_REQUIRE_FAILED = createError('FJG_ERR_REQUIRE_FAILED', 'The request is not allowed', 403)

export type FjgError = Error & { code: string, statusCode: number, cause?: unknown }
