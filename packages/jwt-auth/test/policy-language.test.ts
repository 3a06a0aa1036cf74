import t from 'tap'
import { compileEntry, formatPath, parsePath } from '../src/claims.js'
import { compilePolicy, explainToken } from '../src/index.js'
import type { RequirementEntry } from '../src/types.js'
import { bearer, build, hs, hsRaw, loggedApp, registerError, SECRET } from './helpers/app.js'

// Issue 13, points 1-6, 11: the policy language for real identity providers.

const payload = {
  sub: 'alice',
  n: 5,
  scope: 'api:read api:write  openid',
  scp: 'user.read',
  words: 'a b',
  roles: ['admin', 'dev'],
  ids: [1, 2, 3],
  empty: [],
  nums: 7,
  realm_access: { roles: ['offline', 'editor'] },
  a: { b: [{ c: 1 }, { c: 2 }, { c: 3, d: ['x', 'y'] }] },
  'https://example.com/roles': ['reader'],
  'dotted.name': 'x',
  'q"uote': 'q'
}

const opts = { spaceDelimited: new Set(['scope', 'scp']) }
function check (entry: RequirementEntry): boolean {
  return compileEntry(entry, 'requireClaims[0]', opts).check(payload as any)
}

// [claim, op, value, expected]: every new operator on strings, numbers, arrays and space-delimited strings.
const cases: Array<[string | string[], string, unknown, boolean]> = [
  // contains / !contains: every listed value is in the claim
  ['scope', 'contains', ['api:write'], true],
  ['scope', 'contains', ['api:write', 'api:read'], true],
  ['scope', 'contains', ['api:write', 'api:admin'], false],
  ['scope', 'contains', ['api'], false],
  ['scope', 'contains', ['api:read api:write'], false],
  ['scope', '!contains', ['api:admin'], true],
  ['scope', '!contains', ['api:read', 'api:admin'], true],
  ['scope', '!contains', ['api:read'], false],
  ['scp', 'contains', ['user.read'], true],
  ['words', 'contains', ['a'], false],
  ['words', 'contains', ['a b'], true],
  ['roles', 'contains', ['admin', 'dev'], true],
  ['roles', 'contains', ['admin', 'ops'], false],
  ['roles', '!contains', ['ops'], true],
  ['ids', 'contains', [1, 3], true],
  ['ids', 'contains', ['1'], false],
  ['sub', 'contains', ['alice'], true],
  ['n', 'contains', [5], true],
  ['n', 'contains', ['5'], false],
  ['empty', 'contains', ['x'], false],
  ['missing', 'contains', ['x'], false],
  ['missing', '!contains', ['x'], false],
  // the existing list operators on a space-delimited claim
  ['scope', 'intersect', ['api:write', 'x'], true],
  ['scope', 'intersect', ['x'], false],
  ['scope', '!intersect', ['api:admin'], true],
  ['scope', '!intersect', ['openid'], false],
  ['scope', 'in', ['api:read', 'api:write', 'openid'], true],
  ['scope', 'in', ['api:read'], false],
  ['scope', '!in', ['api:read'], true],
  ['scope', 'eq', 'api:read api:write  openid', true],
  // match / !match: unanchored unless the pattern anchors; some element of a list
  ['sub', 'match', '^al', true],
  ['sub', 'match', 'ice$', true],
  ['sub', 'match', '^bob$', false],
  ['sub', 'match', '(?i)^ALICE$', true],
  ['sub', '!match', '^bob', true],
  ['sub', '!match', '^a', false],
  ['n', 'match', '5', false],
  ['n', '!match', '5', true],
  ['roles', 'match', '^adm', true],
  ['roles', 'match', '^ops$', false],
  ['roles', '!match', '^ops$', true],
  ['roles', '!match', '^dev$', false],
  ['ids', 'match', '1', false],
  ['empty', 'match', '.*', false],
  ['empty', '!match', 'x', true],
  ['scope', 'match', '^api:write$', true],
  ['scope', 'match', '^api:read api', false],
  ['scope', '!match', '^admin', true],
  ['missing', 'match', '.*', false],
  ['missing', '!match', 'x', false],
  // paths with indexes and quoted names
  ['roles[0]', 'eq', 'admin', true],
  ['roles[1]', 'eq', 'dev', true],
  ['roles[2]', 'exists', undefined, false],
  ['realm_access.roles[1]', 'eq', 'editor', true],
  ['realm_access.roles[0]', 'contains', ['offline'], true],
  ['a.b[2].c', 'eq', 3, true],
  ['a.b[0].c', 'ge', 1, true],
  ['a.b[2].d[1]', 'eq', 'y', true],
  ['a.b.c', 'exists', undefined, false],
  ['sub[0]', 'exists', undefined, false],
  ['"https://example.com/roles"', 'contains', ['reader'], true],
  ['"https://example.com/roles"[0]', 'eq', 'reader', true],
  ['"dotted.name"', 'eq', 'x', true],
  ['"q\\"uote"', 'eq', 'q', true],
  [['https://example.com/roles'], 'intersect', ['reader'], true],
  ['roles.0', 'exists', undefined, false]
]

t.test('every operator, typed, on strings, numbers, arrays and space-delimited strings', async (t) => {
  for (const [claim, op, value, want] of cases) {
    const e = (value === undefined ? { claim, op } : { claim, op, value }) as RequirementEntry
    t.equal(check(e), want, `${JSON.stringify(claim)} ${op} ${JSON.stringify(value)} → ${want}`)
  }
})

t.test('paths: parsed once, one canonical spelling, clear errors', async (t) => {
  t.strictSame(parsePath('a.b[2].c'), ['a', 'b', 2, 'c'])
  t.strictSame(parsePath('"https://example.com/roles"[1]'), ['https://example.com/roles', 1])
  t.strictSame(parsePath(['a.b', 'c']), ['a.b', 'c'])
  t.equal(formatPath(['https://example.com/roles', 0, 'x']), '"https://example.com/roles"[0].x')
  for (const [bad, why] of [
    ['a..b', 'empty name at 2'], ['a.', 'the path ends with "."'], ['[0]', 'empty name at 0'], ['a[x]', 'an index is a whole number in brackets, at 1'],
    ['a[01]', 'an index is a whole number in brackets, at 1'], ['a[-1]', 'an index is a whole number in brackets, at 1'], ['"a', 'unterminated quoted name at 0'],
    ['a]b', 'unexpected "]" at 1'], ['a"b"', 'unexpected "\\"" at 1'], ['""', 'empty name at 0']
  ]) {
    t.throws(() => compileEntry({ claim: bad as string, op: 'exists' }, 'requireClaims[3]'), { message: `requireClaims[3].claim: ${JSON.stringify(bad)} is not a valid path: ${why}` }, bad)
  }
})

t.test('option errors at start, naming the path', async (t) => {
  const cases: Array<[unknown, string]> = [
    [{ requireClaims: [{ claim: 'sub', op: 'match', value: '(a)\\1' }] }, 'requireClaims[0].value: "(a)\\\\1" is not a pattern the linear-time engine (RE2 syntax) accepts: error parsing regexp: invalid escape sequence: `\\1`'],
    [{ requireClaims: [{ claim: 'sub', op: '!match', value: '^(?=admin)' }] }, 'requireClaims[0].value: "^(?=admin)" is not a pattern the linear-time engine (RE2 syntax) accepts: error parsing regexp: invalid or unsupported Perl syntax: `(?=`'],
    [{ requireClaims: [{ claim: 'sub', op: 'match', value: 5 }] }, "requireClaims[0].value: 'match' needs a regular expression string, got 5"],
    [{ requireClaims: [{ claim: 'scope', op: 'contains', value: [] }] }, "requireClaims[0].value: 'contains' needs at least one value"],
    [{ requireClaims: [{ claim: 'scope', op: 'contains', value: 'api:read' }] }, "requireClaims[0].value: 'contains' needs a list of strings, numbers, booleans or null, got \"api:read\""],
    [{ requireClaims: [{ anyOf: [{ claim: 'a', op: 'exists' }, { claim: 'b[x]', op: 'exists' }] }] }, 'requireClaims[0].anyOf[1].claim: "b[x]" is not a valid path: an index is a whole number in brackets, at 1'],
    [{ requireClaims: [{ anyOf: [{ anyOf: [{ claim: 'a', op: 'like' }] }] }] }, 'requireClaims[0].anyOf[0].anyOf[0].op: unknown operator "like"'],
    [{ requireClaims: [{ anyOf: [{ claim: 'a', op: 'exists', status: 401 }] }] }, 'requireClaims[0].anyOf[0].status: only a top-level entry has a status (put it on the enclosing anyOf)'],
    [{ requireClaims: [{ anyOf: [{ claim: 'a', op: 'exists', colour: 1 }] }] }, 'requireClaims[0].anyOf[0].colour: unknown key'],
    [{ requireClaims: [{ anyOf: [] }] }, 'requireClaims[0].anyOf: must NOT have fewer than 1 items, got []'],
    [{ requireClaims: [{ anyOf: [{ claim: 'a', op: 'exists' }], claim: 'b', op: 'exists' }] }, 'requireClaims[0]: an entry is either { "anyOf": [...] } or { "claim", "op", "value" }, not both'],
    [{ requireClaims: [{ claim: 'a' }] }, 'requireClaims[0]: needs "claim" and "op" (or "anyOf")'],
    [{ requireClaims: [{ claim: 'a', op: 'exists', status: 302 }] }, 'requireClaims[0].status: must be >= 400, got 302'],
    [{ requireHeaders: [{ claim: 'kid', op: 'exists', status: 500 }] }, 'requireHeaders[0].status: must be <= 499, got 500'],
    [{ claimsToHeaders: { 'x-role': 'roles[' } }, 'claimsToHeaders["x-role"]: "roles[" is not a valid path: an index is a whole number in brackets, at 5'],
    [{ spaceDelimitedClaims: ['a..b'] }, 'spaceDelimitedClaims[0]: "a..b" is not a valid path: empty name at 2'],
    [{ challenge: { scope: 'a "b"' } }, 'challenge.scope: must be scope tokens separated by single spaces, without quotes or backslashes (RFC 6750 §3)'],
    [{ challenge: { resourceMetadata: 'https://x.example/a"b' } }, 'challenge.resourceMetadata: must be an http(s) URL without spaces, quotes or backslashes (RFC 9728 §5.1)'],
    [{ challenge: { resourceMetadata: 'ftp://x' } }, 'challenge.resourceMetadata: must match pattern "^https?://", got "ftp://x"'],
    [{ tokenType: 'at jwt' }, 'tokenType: must be a media type such as "at+jwt", got "at jwt"'],
    [{ maxAge: 0 }, 'maxAge: must be > 0, got 0']
  ]
  for (const [policy, message] of cases) {
    const err = await registerError({ secret: SECRET, ...(policy as object) })
    t.equal(err.code, 'FJG_ERR_OPTION_INVALID')
    t.equal(err.message, `Invalid jwt policy: ${message}`)
  }
})

t.test('nested anyOf through the plugin; the list stays all-of', async (t) => {
  const app = await build(t, {
    secret: SECRET,
    requireClaims: [
      { claim: 'sub', op: 'exists' },
      { anyOf: [{ claim: 'scope', op: 'contains', value: ['api:admin'] }, { anyOf: [{ claim: 'roles[0]', op: 'eq', value: 'admin' }, { claim: 'realm_access.roles', op: 'intersect', value: ['editor'] }] }] }
    ]
  })
  t.equal((await app.inject({ url: '/', headers: bearer(hs({ sub: 'a', scope: 'api:admin' })) })).statusCode, 200)
  t.equal((await app.inject({ url: '/', headers: bearer(hs({ sub: 'a', roles: ['admin'] })) })).statusCode, 200)
  t.equal((await app.inject({ url: '/', headers: bearer(hs({ sub: 'a', realm_access: { roles: ['editor'] } })) })).statusCode, 200)
  t.equal((await app.inject({ url: '/', headers: bearer(hs({ scope: 'api:admin' })) })).statusCode, 403, 'first entry still required')
  const no = await app.inject({ url: '/', headers: bearer(hs({ sub: 'a', scope: 'api:read', roles: ['dev', 'admin'] })) })
  const message = 'The token does not satisfy the requirement on claim any of (scope, any of (roles[0], realm_access.roles))'
  t.equal(no.statusCode, 403)
  t.equal(no.headers['www-authenticate'], `Bearer realm="api", error="insufficient_scope", error_description="${message}"`)
  t.strictSame(no.json(), { statusCode: 403, error: 'Forbidden', code: 'FJG_ERR_CLAIM_REQUIREMENT', message })
})

t.test('per-entry status: 401 says invalid_token, another 4xx has no challenge', async (t) => {
  const app = await build(t, {
    secret: SECRET,
    requireClaims: [
      { claim: 'azp', op: 'eq', value: 'web', status: 401 },
      { anyOf: [{ claim: 'tenant', op: 'eq', value: 't1' }, { claim: 'tenant', op: 'eq', value: 't2' }], status: 404 },
      { claim: 'scope', op: 'contains', value: ['api:read'] }
    ],
    requireHeaders: [{ claim: 'kid', op: '!exists', status: 400 }]
  })
  const a = await app.inject({ url: '/', headers: bearer(hs({ azp: 'cli', tenant: 't1', scope: 'api:read' })) })
  t.equal(a.statusCode, 401)
  t.equal(a.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The token does not satisfy the requirement on claim azp"')
  t.strictSame(a.json(), { statusCode: 401, error: 'Unauthorized', code: 'FJG_ERR_CLAIM_REQUIREMENT', message: 'The token does not satisfy the requirement on claim azp' })
  const b = await app.inject({ url: '/', headers: bearer(hs({ azp: 'web', tenant: 't3', scope: 'api:read' })) })
  t.equal(b.statusCode, 404)
  t.equal(b.headers['www-authenticate'], undefined)
  t.strictSame(b.json(), { statusCode: 404, error: 'Not Found', code: 'FJG_ERR_CLAIM_REQUIREMENT', message: 'The token does not satisfy the requirement on claim any of (tenant, tenant)' })
  const c = await app.inject({ url: '/', headers: bearer(hs({ azp: 'web', tenant: 't2', scope: 'openid' })) })
  t.equal(c.statusCode, 403)
  t.equal(c.json().code, 'FJG_ERR_CLAIM_REQUIREMENT')
  const d = await app.inject({ url: '/', headers: bearer(hs({ azp: 'web', tenant: 't2', scope: 'openid api:read' }, { kid: 'k' })) })
  t.equal(d.statusCode, 400)
  t.strictSame(d.json(), { statusCode: 400, error: 'Bad Request', code: 'FJG_ERR_HEADER_REQUIREMENT', message: 'The token does not satisfy the requirement on header kid' })
  t.equal((await app.inject({ url: '/', headers: bearer(hs({ azp: 'web', tenant: 't2', scope: 'openid api:read' })) })).statusCode, 200)
})

t.test('challenge: scope and resource_metadata on missing, invalid and insufficient', async (t) => {
  const params = ', scope="api:read api:write", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"'
  for (const [challenge, extra] of [
    [{ scope: 'api:read api:write', resourceMetadata: 'https://api.example.com/.well-known/oauth-protected-resource' }, params],
    [{ scope: 'api:read api:write' }, ', scope="api:read api:write"'],
    [{ resourceMetadata: 'https://api.example.com/.well-known/oauth-protected-resource' }, ', resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"']
  ] as const) {
    const app = await build(t, { secret: SECRET, realm: 'shop', challenge, requireClaims: [{ claim: 'scope', op: 'contains', value: ['api:write'] }] })
    const missing = await app.inject({ url: '/' })
    t.equal(missing.statusCode, 401)
    t.equal(missing.headers['www-authenticate'], `Bearer realm="shop"${extra}`)
    const invalid = await app.inject({ url: '/', headers: bearer(hs({ exp: 1 })) })
    t.equal(invalid.statusCode, 401)
    t.equal(invalid.headers['www-authenticate'], `Bearer realm="shop", error="invalid_token", error_description="The token has expired"${extra}`)
    const insufficient = await app.inject({ url: '/', headers: bearer(hs({ scope: 'api:read' })) })
    t.equal(insufficient.statusCode, 403)
    t.equal(insufficient.headers['www-authenticate'], `Bearer realm="shop", error="insufficient_scope", error_description="The token does not satisfy the requirement on claim scope"${extra}`)
    t.equal((await app.inject({ url: '/', headers: bearer(hs({ scope: 'api:write' })) })).statusCode, 200)
  }
})

t.test('tokenType: typ at+jwt or application/at+jwt, case-insensitive (RFC 9068 §4, RFC 7515 §4.1.9)', async (t) => {
  const app = await build(t, { secret: SECRET, tokenType: 'at+jwt' })
  for (const typ of ['at+jwt', 'application/at+jwt', 'AT+JWT', 'Application/At+Jwt']) {
    t.equal((await app.inject({ url: '/', headers: bearer(hs({}, { typ })) })).statusCode, 200, typ)
  }
  for (const typ of ['JWT', 'jwt', 'at+jwt2', 'application/jwt', undefined]) {
    const token = typ === undefined ? hsRaw({ sub: 'a', exp: Math.floor(Date.now() / 1000) + 60 }, { alg: 'HS256' }) : hs({}, { typ })
    const res = await app.inject({ url: '/', headers: bearer(token) })
    t.equal(res.statusCode, 401, String(typ))
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The token type (typ) is not at+jwt"')
    t.strictSame(res.json(), { statusCode: 401, error: 'Unauthorized', code: 'FJG_ERR_TOKEN_TYPE', message: 'The token type (typ) is not at+jwt' })
  }
  const app2 = await build(t, { secret: SECRET, tokenType: 'application/at+jwt' })
  t.equal((await app2.inject({ url: '/', headers: bearer(hs({}, { typ: 'at+jwt' })) })).statusCode, 200, 'the policy may spell it with application/ too')
})

t.test('maxAge: requires iat, refuses older tokens and an iat in the future', async (t) => {
  const app = await build(t, { secret: SECRET, maxAge: 600, leeway: 5 })
  const now = Math.floor(Date.now() / 1000)
  // hsRaw: fast-jwt's signer drops an explicit iat when told noTimestamp.
  const at = (iat: number): string => hsRaw({ sub: 'a', exp: now + 60, iat })
  t.equal((await app.inject({ url: '/', headers: bearer(at(now - 590)) })).statusCode, 200)
  t.equal((await app.inject({ url: '/', headers: bearer(at(now - 603)) })).statusCode, 200, 'within leeway')
  t.equal((await app.inject({ url: '/', headers: bearer(at(now + 3)) })).statusCode, 200, 'a few seconds ahead, within leeway')
  const cases: Array<[unknown, string, string]> = [
    [now - 700, 'FJG_ERR_TOKEN_TOO_OLD', 'The token was issued more than 600 seconds ago'],
    [undefined, 'FJG_ERR_TOKEN_ISSUED_AT', 'The token issue time (iat) is missing'],
    [now + 120, 'FJG_ERR_TOKEN_ISSUED_AT', 'The token issue time (iat) is in the future'],
    ['yesterday', 'FJG_ERR_TOKEN_CLAIM_TYPE', 'The token claim iat has an invalid type']
  ]
  for (const [iat, code, message] of cases) {
    const res = await app.inject({ url: '/', headers: bearer(hsRaw({ sub: 'a', exp: now + 60, ...(iat === undefined ? {} : { iat }) })) })
    t.equal(res.statusCode, 401, code)
    t.equal(res.headers['www-authenticate'], `Bearer realm="api", error="invalid_token", error_description="${message}"`)
    t.strictSame(res.json(), { statusCode: 401, error: 'Unauthorized', code, message })
  }
})

t.test('a space-delimited claim list can be changed, and emptied', async (t) => {
  const app = await build(t, { secret: SECRET, spaceDelimitedClaims: ['perms'], requireClaims: [{ claim: 'perms', op: 'contains', value: ['b'] }, { claim: 'scope', op: 'eq', value: 'x y' }] })
  t.equal((await app.inject({ url: '/', headers: bearer(hs({ perms: 'a b', scope: 'x y' })) })).statusCode, 200)
  const off = await build(t, { secret: SECRET, spaceDelimitedClaims: [], requireClaims: [{ claim: 'scope', op: 'contains', value: ['x'] }] })
  t.equal((await off.inject({ url: '/', headers: bearer(hs({ scope: 'x y' })) })).statusCode, 403, 'scope is a plain string now')
  t.equal((await off.inject({ url: '/', headers: bearer(hs({ scope: ['x', 'y'] })) })).statusCode, 200)
})

t.test('claimsToHeaders and requireHeaders take the same paths', async (t) => {
  const app = await build(t, {
    secret: SECRET,
    claimsToHeaders: { 'x-first-role': 'realm_access.roles[0]', 'x-ns-role': '"https://example.com/roles"[0]' },
    joseHeadersToHeaders: { 'x-x5t': 'x5c[0]' },
    requireHeaders: [{ claim: 'crit2[1]', op: '!exists' }]
  })
  const res = await app.inject({ url: '/', headers: bearer(hs({ realm_access: { roles: ['editor', 'x'] }, 'https://example.com/roles': ['reader'] })) })
  t.equal(res.statusCode, 200)
  t.equal(res.json().headers['x-first-role'], 'editor')
  t.equal(res.json().headers['x-ns-role'], 'reader')
  t.equal(res.json().headers['x-x5t'], undefined)
})

t.test('!in on a list claim warns at start, naming the path', async (t) => {
  const seen: string[] = []
  const onWarning = (w: Error & { code?: string }): void => { if (w.code === 'FJG_WARN_NOT_IN_LIST') seen.push(w.message) }
  process.on('warning', onWarning)
  t.teardown(() => process.off('warning', onWarning))
  compilePolicy({ secret: SECRET, requireClaims: [{ claim: 'sub', op: '!in', value: ['x'] }, { anyOf: [{ claim: 'realm_access.roles', op: '!in', value: ['banned'] }] }] })
  await new Promise((resolve) => setImmediate(resolve))
  t.strictSame(seen, ["requireClaims[1].anyOf[0]: '!in' on the list claim realm_access.roles passes when some element is outside the list; it is not a deny-list: use '!intersect' to refuse tokens holding any of these values"])
})

t.test('denial log lines carry the values, never the token', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const expired = hs({ sub: 'alice', iss: 'https://idp.example', aud: ['api'], exp: now - 3 * 3600 - 12 * 60 }, { kid: 'k1' })
  const unscoped = hs({ sub: 'bob', scope: 'api:read' })
  const { app, logs } = await loggedApp(t, { secret: SECRET, requireClaims: [{ claim: 'scope', op: 'contains', value: ['api:write'] }, { anyOf: [{ claim: 'roles', op: 'exists' }] }] }, [expired, unscoped])
  t.equal((await app.inject({ url: '/', headers: bearer(expired) })).statusCode, 401)
  t.equal((await app.inject({ url: '/', headers: bearer(unscoped) })).statusCode, 403)
  const denials = logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('jwt: denied')).map((l) => l.jwt)
  t.equal(denials.length, 2)
  const [a, b] = denials
  t.equal(a.reason, 'FJG_ERR_TOKEN_EXPIRED')
  t.equal(a.kid, 'k1')
  t.equal(a.alg, '"HS256"')
  t.equal(a.iss, '"https://idp.example"')
  t.equal(a.aud, '["api"]')
  t.match(a.exp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(expired 3 h 1[23] min ago\)$/)
  t.equal(b.reason, 'FJG_ERR_CLAIM_REQUIREMENT')
  t.equal(b.requirement, 'scope')
  t.strictSame(b.values, ['scope contains ["api:write"]: "api:read"'])
})

t.test('explainToken: every check with its values, and the answer', async (t) => {
  const c = compilePolicy({ secret: SECRET, issuer: 'https://idp.example', requireClaims: [{ anyOf: [{ claim: 'roles', op: 'exists' }, { claim: 'scope', op: 'contains', value: ['api:write'] }] }] })
  const ex = await explainToken(c, hs({ iss: 'https://idp.example', scope: 'api:read' }))
  t.strictSame(ex.steps.map((s) => [s.name, s.pass]), [['format', true], ['alg', true], ['key', true], ['signature', true], ['exp', true], ['iss', true], ['aud', null], ['requireClaims[0]', false]])
  t.strictSame(ex.steps[7]?.detail, ['any of:', '  roles exists: absent', '  scope contains ["api:write"]: "api:read"'])
  t.equal(ex.answer?.status, 403)
  t.equal(ex.answer?.body.code, 'FJG_ERR_CLAIM_REQUIREMENT')
})
