import t from 'tap'
import { bearerToken, cookieValue, parseTokenSource } from '../src/token-source.js'
import { bearer, build, hs, SECRET } from './helpers/app.js'

t.test('bearerToken', async (t) => {
  t.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi')
  t.equal(bearerToken('bearer abc'), 'abc', 'scheme is case-insensitive (RFC 9110 §11.1)')
  t.equal(bearerToken('BEARER abc'), 'abc')
  t.equal(bearerToken('Bearer   abc  '), 'abc', 'extra spaces')
  t.equal(bearerToken('Basic dXNlcjpwYXNz'), null)
  t.equal(bearerToken('Bearer'), null)
  t.equal(bearerToken('Bearer '), null)
  t.equal(bearerToken('Bearerabc'), null)
  t.equal(bearerToken('Bearer\tabc'), null, 'the separator is a space')
})

t.test('cookieValue', async (t) => {
  t.equal(cookieValue('jwt=abc', 'jwt'), 'abc')
  t.equal(cookieValue('a=1; jwt=abc; b=2', 'jwt'), 'abc')
  t.equal(cookieValue('a=1;jwt=abc', 'jwt'), 'abc')
  t.equal(cookieValue('xjwt=nope; jwt=yes', 'jwt'), 'yes', 'a name that ends with ours is not ours')
  t.equal(cookieValue('jwtx=nope', 'jwt'), null)
  t.equal(cookieValue('jwt="quoted"', 'jwt'), 'quoted')
  t.equal(cookieValue('jwt=', 'jwt'), null)
  t.equal(cookieValue('a=jwt=1', 'jwt'), null, 'inside another value')
})

t.test('parseTokenSource', async (t) => {
  t.same(parseTokenSource('header:Authorization'), { kind: 'bearer', name: 'authorization' })
  t.same(parseTokenSource('header:X-Token'), { kind: 'header', name: 'x-token' })
  t.same(parseTokenSource('cookie:jwt'), { kind: 'cookie', name: 'jwt' })
  t.same(parseTokenSource('query:access_token'), { kind: 'query', name: 'access_token' })
  t.throws(() => parseTokenSource('body:x'), /must be "header:<name>"/)
})

t.test('default source: Authorization: Bearer', async (t) => {
  const app = await build(t, { secret: SECRET })
  const token = hs({ sub: 'u' })
  t.equal((await app.inject({ url: '/', headers: bearer(token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/', headers: { authorization: `bEaReR ${token}` } })).statusCode, 200)
  const basic = await app.inject({ url: '/', headers: { authorization: 'Basic dXNlcjpwYXNz' } })
  t.equal(basic.statusCode, 401, 'another scheme is no token')
  t.equal(basic.headers['www-authenticate'], 'Bearer realm="api"', 'no error attribute for a missing token (RFC 6750 §3.1)')
  t.equal(basic.json().code, 'FJG_ERR_TOKEN_MISSING')
  const cookie = await app.inject({ url: '/', cookies: { jwt: token } })
  t.equal(cookie.statusCode, 401, 'a cookie is not read unless configured')
})

t.test('custom header, cookie, query, and a list tried in order', async (t) => {
  const app = await build(t, { secret: SECRET, realm: 'shop', token: ['header:x-api-token', 'cookie:jwt', 'query:access_token'] })
  const token = hs({ sub: 'u' })
  t.equal((await app.inject({ url: '/', headers: { 'x-api-token': token } })).statusCode, 200, 'raw header')
  t.equal((await app.inject({ url: '/', headers: { cookie: `theme=dark; jwt=${token}` } })).statusCode, 200, 'cookie')
  t.equal((await app.inject({ url: `/?access_token=${token}` })).statusCode, 200, 'query')
  t.equal((await app.inject({ url: '/', headers: bearer(token) })).statusCode, 401, 'Authorization is not in the list')
  const first = await app.inject({ url: `/?access_token=${token}`, headers: { 'x-api-token': 'garbage' } })
  t.equal(first.statusCode, 401, 'the first source with a token wins; a bad token there is not retried elsewhere')
  t.equal(first.json().code, 'FJG_ERR_TOKEN_MALFORMED')
  t.equal(first.headers['www-authenticate'], 'Bearer realm="shop", error="invalid_token", error_description="The token is malformed: a JWS has three parts"')
  const twice = await app.inject({ url: `/?access_token=${token}&access_token=${token}` })
  t.equal(twice.statusCode, 401, 'a repeated query parameter is ambiguous: no token')
  t.equal(twice.json().code, 'FJG_ERR_TOKEN_MISSING')
})
