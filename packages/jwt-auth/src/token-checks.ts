import { FJG_ERR_TOKEN_CLAIM_TYPE, FJG_ERR_TOKEN_ISSUED_AT, FJG_ERR_TOKEN_TOO_OLD, FJG_ERR_TOKEN_TYPE, type FjgError } from './errors.js'
import type { JsonValue } from './types.js'

// `tokenType` and `maxAge`: checks of a verified token that run after the
// signature and the time claims, before the requirements. They answer 401
// invalid_token (the token is not one this resource takes), not 403.
// Kept apart from verify.ts: they are per policy, and run on cached tokens too
// (`maxAge` depends on the clock, as `exp` does).

export type TokenCheck = (header: Record<string, JsonValue>, payload: Record<string, JsonValue>, nowSec: number) => FjgError | null

/** RFC 7515 §4.1.9: `typ` is compared case-insensitively, and "application/" may be left out. */
export function mediaType (typ: string): string {
  const t = typ.toLowerCase()
  return t.startsWith('application/') && t.indexOf('/', 12) === -1 ? t.slice(12) : t
}

// RFC 6838 §4.2 restricted-name characters, with one optional "/".
const MEDIA_TYPE = /^(application\/)?[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/

/** Throws a message (without its path) when the options are wrong; null when there is nothing to check. */
export function compileTokenChecks (tokenType: string | undefined, maxAge: number | undefined, leeway: number): TokenCheck | null {
  if (tokenType !== undefined && !MEDIA_TYPE.test(tokenType)) {
    throw new Error(`tokenType: must be a media type such as "at+jwt", got ${JSON.stringify(tokenType)}`)
  }
  if (tokenType === undefined && maxAge === undefined) return null
  const wantType = tokenType === undefined ? null : mediaType(tokenType)
  return (header, payload, nowSec) => {
    if (wantType !== null) {
      const typ = header.typ
      // RFC 9068 §4: a resource server must refuse an access token of another type (and one without typ).
      if (typeof typ !== 'string' || mediaType(typ) !== wantType) return new FJG_ERR_TOKEN_TYPE(wantType) as FjgError
    }
    if (maxAge !== undefined) {
      const iat = payload.iat
      if (iat === undefined) return new FJG_ERR_TOKEN_ISSUED_AT('missing') as FjgError
      if (typeof iat !== 'number' || !Number.isFinite(iat)) return new FJG_ERR_TOKEN_CLAIM_TYPE('iat') as FjgError
      // An iat in the future beyond the leeway is a clock problem or a forged
      // age: refused, since the age could not be bounded otherwise.
      if (iat > nowSec + leeway) return new FJG_ERR_TOKEN_ISSUED_AT('in the future') as FjgError
      if (nowSec - iat > maxAge + leeway) return new FJG_ERR_TOKEN_TOO_OLD(maxAge) as FjgError
    }
    return null
  }
}
