import { STATUS_CODES } from 'node:http'
import type { FjgError } from './errors.js'

// The one answer helper: status, body and WWW-Authenticate for a denial, used
// by the hook and by `explain` (which must print what the hook would send).

export interface Answer {
  status: number
  body: { statusCode: number, error: string, code: string, message: string }
  /** Null for a requirement answered with a 4xx other than 401 and 403: no auth challenge there. */
  wwwAuthenticate: string | null
}

// RFC 6750 §3: error_description is a quoted-string of %x20-21 / %x23-5B / %x5D-7E.
function quotable (s: string): string {
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) out += s[i]
    else if (c === 0x22) out += "'"
  }
  return out
}

/**
 * `realm` and `params` (`, scope="...", resource_metadata="..."`, validated at
 * start) are fixed per policy; challenges are cached per message.
 */
export function compileAnswer (realm: string, params: string): (err: FjgError) => Answer {
  const realmPart = `Bearer realm="${realm}"`
  const challenges = new Map<string, string>()
  function challenge (err: FjgError, status: number): string | null {
    if (err.code === 'FJG_ERR_TOKEN_MISSING') return realmPart + params
    if (status !== 401 && status !== 403) return null
    const key = `${status} ${err.message}`
    let h = challenges.get(key)
    if (h === undefined) {
      // A requirement answered 401 says invalid_token: the token is not one this resource takes.
      const kind = status === 403 ? 'insufficient_scope' : 'invalid_token'
      h = `${realmPart}, error="${kind}", error_description="${quotable(err.message)}"${params}`
      if (challenges.size < 256) challenges.set(key, h)
    }
    return h
  }
  return (err) => {
    const s = err.statusCode
    const status = Number.isInteger(s) && s >= 400 && s <= 499 ? s : 401
    return {
      status,
      body: { statusCode: status, error: STATUS_CODES[status] ?? 'Error', code: err.code, message: err.message },
      wwwAuthenticate: challenge(err, status)
    }
  }
}
