import t from 'tap'
import { errors } from '../src/index.js'

// Pins the error table: a change of code, status or message is a breaking
// change for everyone who alerts on these codes or matches the body. The
// message is the template (`%s` where a value goes).
const expected: Record<string, [number, string]> = {
  FJG_ERR_OPTION_INVALID: [500, 'Invalid jwt policy: %s'],
  FJG_ERR_OPTION_KEY: [500, 'Invalid jwt key: %s'],
  FJG_ERR_TOKEN_MISSING: [401, 'No token was provided'],
  FJG_ERR_TOKEN_MALFORMED: [401, 'The token is malformed: %s'],
  FJG_ERR_TOKEN_TOO_LARGE: [401, 'The token is larger than %s bytes'],
  FJG_ERR_TOKEN_ALGORITHM: [401, 'The token algorithm is not allowed'],
  FJG_ERR_TOKEN_CRIT: [401, 'The token has an unsupported critical header'],
  FJG_ERR_TOKEN_KEY_UNKNOWN: [401, 'No key matches the token'],
  FJG_ERR_TOKEN_KEYS_UNAVAILABLE: [401, 'The signing keys are unavailable'],
  FJG_ERR_TOKEN_SIGNATURE: [401, 'The token signature is invalid'],
  FJG_ERR_TOKEN_EXPIRED: [401, 'The token has expired'],
  FJG_ERR_TOKEN_INACTIVE: [401, 'The token is not valid yet'],
  FJG_ERR_TOKEN_CLAIM_TYPE: [401, 'The token claim %s has an invalid type'],
  FJG_ERR_TOKEN_ISSUER: [401, 'The token issuer is not allowed'],
  FJG_ERR_TOKEN_AUDIENCE: [401, 'The token audience is not allowed'],
  FJG_ERR_TOKEN_REVOKED: [401, 'The token has been revoked'],
  FJG_ERR_TOKEN_KID_REQUIRED: [401, 'The token has no kid, which the kid revocation list requires'],
  FJG_ERR_TOKEN_TYPE: [401, 'The token type (typ) is not %s'],
  FJG_ERR_TOKEN_ISSUED_AT: [401, 'The token issue time (iat) is %s'],
  FJG_ERR_TOKEN_TOO_OLD: [401, 'The token was issued more than %s seconds ago'],
  FJG_ERR_TOKEN_REVOCATION_UNAVAILABLE: [401, 'The revocation lists are unavailable'],
  FJG_ERR_TOKEN_NOT_BOUND: [401, 'The token is not bound to a client certificate'],
  FJG_ERR_TOKEN_CERT_MISSING: [401, 'The token is bound to a client certificate and none was presented'],
  FJG_ERR_TOKEN_CERT_MISMATCH: [401, 'The token is bound to another client certificate'],
  FJG_ERR_TOKEN_NOT_ENCRYPTED: [401, 'The token is not encrypted (a JWE is required)'],
  FJG_ERR_TOKEN_DECRYPT: [401, 'The token could not be decrypted'],
  FJG_ERR_TOKEN_ZIP: [401, 'The token is compressed (zip), which is not accepted'],
  FJG_ERR_CLAIM_REQUIREMENT: [403, 'The token does not satisfy the requirement on claim %s'],
  FJG_ERR_HEADER_REQUIREMENT: [403, 'The token does not satisfy the requirement on header %s'],
  FJG_ERR_REQUIRE_FAILED: [403, 'The request is not allowed']
}

t.test('the error table', async (t) => {
  const table = Object.entries(errors).filter(([, v]) => typeof v === 'function') as Array<[string, new (...a: unknown[]) => Error & { code: string, statusCode: number }]>
  t.equal(table.length, Object.keys(expected).length, 'count')
  for (const [key, Ctor] of table) {
    const err = new Ctor()
    t.equal(err.code, key, `${key}: key === code`)
    t.same([err.statusCode, err.message], expected[key], `${key}: status, message`)
    t.ok(err instanceof Error)
    // A request error is an answer, sent on the hot path: no stack trace (errors.ts).
    t.equal(typeof err.stack, err.statusCode >= 500 ? 'string' : 'undefined', `${key}: a stack only for an option error`)
  }
  t.equal(new errors.FJG_ERR_TOKEN_CLAIM_TYPE('exp').message, 'The token claim exp has an invalid type', 'a %s template takes its value')
})
