import t from 'tap'
import { compileRequirement, getPath, headerValue } from '../src/claims.js'
import type { Requirement } from '../src/types.js'
import { bearer, build, hs } from './helpers/app.js'

const payload = {
  sub: 'alice',
  n: 5,
  f: 2.5,
  yes: true,
  no: false,
  nil: null,
  roles: ['admin', 'dev'],
  ids: [1, 2, 3],
  empty: [],
  realm: { access: { role: 'editor', level: 3 } },
  'dotted.name': 'x',
  numstr: '5'
}

function check (req: Requirement): boolean {
  return compileRequirement(req, 'requireClaims[0]')(payload as any)
}

// [claim, op, value, expected]
const cases: Array<[string | string[], Requirement['op'], unknown, boolean]> = [
  // eq / !eq: typed, no coercion
  ['sub', 'eq', 'alice', true],
  ['sub', 'eq', 'bob', false],
  ['n', 'eq', 5, true],
  ['n', 'eq', '5', false],
  ['numstr', 'eq', 5, false],
  ['yes', 'eq', true, true],
  ['yes', 'eq', 'true', false],
  ['nil', 'eq', null, true],
  ['roles', 'eq', ['admin', 'dev'], true],
  ['roles', 'eq', ['dev', 'admin'], false],
  ['realm.access', 'eq', { role: 'editor', level: 3 }, true],
  ['sub', '!eq', 'bob', true],
  ['sub', '!eq', 'alice', false],
  ['n', '!eq', '5', true],
  ['missing', '!eq', 'x', false],
  ['missing', 'eq', 'x', false],
  // gt ge lt le: numbers only
  ['n', 'gt', 4, true],
  ['n', 'gt', 5, false],
  ['n', 'ge', 5, true],
  ['n', 'lt', 6, true],
  ['n', 'lt', 5, false],
  ['n', 'le', 5, true],
  ['f', 'gt', 2, true],
  ['numstr', 'gt', 1, false],
  ['yes', 'gt', 0, false],
  ['missing', 'lt', 100, false],
  ['realm.access.level', 'ge', 3, true],
  // in / !in: every element of the claim in the list; a scalar is a one-element list
  ['sub', 'in', ['alice', 'bob'], true],
  ['sub', 'in', ['bob'], false],
  ['n', 'in', ['5'], false],
  ['n', 'in', [5, 6], true],
  ['roles', 'in', ['admin', 'dev', 'ops'], true],
  ['roles', 'in', ['admin'], false],
  ['empty', 'in', ['admin'], false],
  ['sub', '!in', ['bob'], true],
  ['sub', '!in', ['alice'], false],
  ['roles', '!in', ['admin'], true],
  ['missing', '!in', ['x'], false],
  ['yes', 'in', [true], true],
  // intersect / !intersect: at least one element in common
  ['roles', 'intersect', ['admin', 'x'], true],
  ['roles', 'intersect', ['x', 'y'], false],
  ['sub', 'intersect', ['alice'], true],
  ['ids', 'intersect', [3, 9], true],
  ['ids', 'intersect', ['3'], false],
  ['roles', '!intersect', ['x'], true],
  ['roles', '!intersect', ['dev'], false],
  ['missing', '!intersect', ['x'], false],
  ['missing', 'intersect', ['x'], false],
  // exists / !exists
  ['sub', 'exists', undefined, true],
  ['nil', 'exists', undefined, true],
  ['missing', 'exists', undefined, false],
  ['realm.access.role', 'exists', undefined, true],
  ['realm.access.nope', 'exists', undefined, false],
  ['sub.deeper', 'exists', undefined, false],
  ['missing', '!exists', undefined, true],
  ['sub', '!exists', undefined, false],
  // nested paths and names with dots
  ['realm.access.role', 'eq', 'editor', true],
  [['dotted.name'], 'eq', 'x', true],
  ['dotted.name', 'eq', 'x', false],
  // prototype names never resolve
  ['__proto__', 'exists', undefined, false],
  ['constructor', 'exists', undefined, false],
  ['sub.length', 'exists', undefined, false],
  ['roles.0', 'exists', undefined, false]
]

t.test('every operator, typed', async (t) => {
  for (const [claim, op, value, want] of cases) {
    const req: Requirement = value === undefined ? { claim, op } : { claim, op, value: value as any }
    t.equal(check(req), want, `${JSON.stringify(claim)} ${op} ${JSON.stringify(value)} → ${want}`)
  }
})

t.test('requirements are validated at compile time', async (t) => {
  t.throws(() => compileRequirement({ claim: 'n', op: 'gt', value: '5' as any }, 'requireClaims[2]'), /requireClaims\[2\]\.value: 'gt' compares numbers, got "5"/)
  t.throws(() => compileRequirement({ claim: 'r', op: 'in', value: 'admin' }, 'requireClaims[0]'), /requireClaims\[0\]\.value: 'in' needs a list/)
  t.throws(() => compileRequirement({ claim: 'r', op: 'in', value: [{ a: 1 }] as any }, 'x'), /needs a list of strings/)
  t.throws(() => compileRequirement({ claim: 'r', op: 'eq' }, 'x'), /'eq' needs a value/)
  t.throws(() => compileRequirement({ claim: 'r', op: 'exists', value: 1 }, 'x'), /'exists' takes no value/)
  t.throws(() => compileRequirement({ claim: 'a..b', op: 'exists' }, 'x'), /x\.claim: "a\.\.b" is not a valid path/)
  t.throws(() => compileRequirement({ claim: 'a', op: 'like' as any, value: 1 }, 'x'), /unknown operator/)
})

t.test('getPath reads own properties only', async (t) => {
  t.equal(getPath({ a: { b: 1 } }, ['a', 'b']), 1)
  t.equal(typeof getPath({ a: 1 }, ['toString']), 'symbol')
})

t.test('header values', async (t) => {
  t.equal(headerValue('x'), 'x')
  t.equal(headerValue(5), '5')
  t.equal(headerValue(false), 'false')
  t.equal(headerValue(['a', 'b']), '["a","b"]')
  t.equal(headerValue({ a: 'b\nc' }), '{"a":"b\\nc"}', 'JSON escapes control characters')
  t.equal(headerValue('a\r\nx-evil: 1'), null, 'CR/LF → omitted')
  t.equal(headerValue('a\u0000b'), null)
  t.equal(headerValue('tab\tok'), 'tab\tok')
  t.equal(headerValue('José'), 'José')
  t.equal(headerValue(null), null)
  t.equal(headerValue(undefined), null)
})

t.test('requireClaims through the plugin: 403 insufficient_scope', async (t) => {
  const app = await build(t, {
    secret: 'a-test-secret-that-is-long-enough-for-hs256',
    requireClaims: [{ claim: 'realm.access.role', op: 'in', value: ['editor', 'admin'] }, { claim: 'scope', op: 'intersect', value: ['write'] }]
  })
  const ok = await app.inject({ url: '/', headers: bearer(hs({ realm: { access: { role: 'editor' } }, scope: ['read', 'write'] })) })
  t.equal(ok.statusCode, 200)
  const no = await app.inject({ url: '/', headers: bearer(hs({ realm: { access: { role: 'viewer' } }, scope: ['write'] })) })
  t.equal(no.statusCode, 403)
  t.equal(no.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The token does not satisfy the requirement on claim realm.access.role"')
  t.same(no.json(), { statusCode: 403, error: 'Forbidden', code: 'FJG_ERR_CLAIM_REQUIREMENT', message: 'The token does not satisfy the requirement on claim realm.access.role' })
  const second = await app.inject({ url: '/', headers: bearer(hs({ realm: { access: { role: 'admin' } }, scope: 'read' })) })
  t.equal(second.statusCode, 403)
  t.equal(second.json().message, 'The token does not satisfy the requirement on claim scope')
})

t.test('requireClaims exists on exp makes exp mandatory', async (t) => {
  const app = await build(t, {
    secret: 'a-test-secret-that-is-long-enough-for-hs256',
    requireClaims: [{ claim: 'exp', op: 'exists' }]
  })
  const noExp = await app.inject({ url: '/', headers: bearer(hs({ exp: undefined })) })
  t.equal(noExp.statusCode, 403)
  t.equal(noExp.json().code, 'FJG_ERR_CLAIM_REQUIREMENT')
  t.equal((await app.inject({ url: '/', headers: bearer(hs()) })).statusCode, 200)
})

t.test('requireHeaders on the JOSE header', async (t) => {
  const app = await build(t, {
    secret: 'a-test-secret-that-is-long-enough-for-hs256',
    requireHeaders: [{ claim: 'typ', op: 'eq', value: 'JWT' }]
  })
  t.equal((await app.inject({ url: '/', headers: bearer(hs()) })).statusCode, 200)
  const res = await app.inject({ url: '/', headers: bearer(hs({}, { typ: 'at+jwt' })) })
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'FJG_ERR_HEADER_REQUIREMENT')
  t.match(res.headers['www-authenticate'], /error="insufficient_scope"/)
})
