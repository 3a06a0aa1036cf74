import t from 'tap'
import { errors } from '../src/index.js'

// Pins the error table: a change of code or status is a breaking change for
// everyone who alerts on these codes.
const expected: Record<string, number> = {
  FJG_ERR_OPTION_INVALID: 500,
  FJG_ERR_OPTION_KEY: 500,
  FJG_ERR_TOKEN_MISSING: 401,
  FJG_ERR_TOKEN_MALFORMED: 401,
  FJG_ERR_TOKEN_TOO_LARGE: 401,
  FJG_ERR_TOKEN_ALGORITHM: 401,
  FJG_ERR_TOKEN_CRIT: 401,
  FJG_ERR_TOKEN_KEY_UNKNOWN: 401,
  FJG_ERR_TOKEN_KEYS_UNAVAILABLE: 401,
  FJG_ERR_TOKEN_SIGNATURE: 401,
  FJG_ERR_TOKEN_EXPIRED: 401,
  FJG_ERR_TOKEN_INACTIVE: 401,
  FJG_ERR_TOKEN_CLAIM_TYPE: 401,
  FJG_ERR_TOKEN_ISSUER: 401,
  FJG_ERR_TOKEN_AUDIENCE: 401,
  FJG_ERR_TOKEN_REVOKED: 401,
  FJG_ERR_TOKEN_KID_REQUIRED: 401,
  FJG_ERR_TOKEN_TYPE: 401,
  FJG_ERR_TOKEN_ISSUED_AT: 401,
  FJG_ERR_TOKEN_TOO_OLD: 401,
  FJG_ERR_TOKEN_REVOCATION_UNAVAILABLE: 401,
  FJG_ERR_TOKEN_NOT_BOUND: 401,
  FJG_ERR_TOKEN_CERT_MISSING: 401,
  FJG_ERR_TOKEN_CERT_MISMATCH: 401,
  FJG_ERR_TOKEN_NOT_ENCRYPTED: 401,
  FJG_ERR_TOKEN_DECRYPT: 401,
  FJG_ERR_TOKEN_ZIP: 401,
  FJG_ERR_CLAIM_REQUIREMENT: 403,
  FJG_ERR_HEADER_REQUIREMENT: 403,
  FJG_ERR_REQUIRE_FAILED: 403
}

t.test('the error table', async (t) => {
  const table = Object.entries(errors).filter(([, v]) => typeof v === 'function') as Array<[string, new (...a: unknown[]) => Error & { code: string, statusCode: number }]>
  t.equal(table.length, Object.keys(expected).length, 'count')
  for (const [key, Ctor] of table) {
    const err = new Ctor('x')
    t.equal(err.code, key, `${key}: key === code`)
    t.equal(err.statusCode, expected[key], `${key}: status`)
    t.ok(err instanceof Error)
  }
})
