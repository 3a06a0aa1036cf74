/* eslint-disable no-template-curly-in-string -- ${NAME} placeholders in plain strings are what this file tests */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, readConfigFile, resolveConfigPaths, substituteEnv } from '../src/config.js'
import { findJsonSyntaxError } from '../src/json-text.js'
import { redactUrl, queryTokenNames, TOKEN_QUERY_NAMES } from '../src/logging.js'
import { urlOf } from '../src/server.js'
import { UserError } from '../src/errors.js'

// The config pipeline's pure steps, in-process. The CLI tests run them end to end.

t.test('a JSON syntax error names line and column, for every kind of mistake', async (t) => {
  const cases: Array<[string, number, number, RegExp]> = [
    ['{\n  "a": }', 2, 8, /unexpected "}", expected a value/],
    ['{\n  "a": 1,\n}', 3, 1, /trailing comma before "}"/],
    ['{ "a" 1 }', 1, 7, /expected ":" after the property name/],
    ['{\n  "routes": [\n    {"prefix": "/"}\n    {"prefix": "/a"}\n  ]\n}', 4, 5, /expected "," or "]"/],
    ['{ a: 1 }', 1, 3, /double-quoted property name/],
    ["{ \"a\": 'x' }", 1, 8, /double quotes/],
    ['{ "a": "b\nc" }', 1, 10, /line break or control character/],
    ['{ "a": 1 } x', 1, 12, /after the end of the JSON document/],
    ['{ "a": [1, 2 }', 1, 14, /expected "," or "]"/],
    ['{ "a": "\\q" }', 1, 9, /bad escape/],
    ['{ "a": "open', 1, 8, /unterminated string/],
    ['', 1, 1, /empty/],
    ['{ "a": tru }', 1, 8, /expected a value/],
    ['{ "a": -x }', 1, 8, /expected a value/]
  ]
  for (const [text, line, column, message] of cases) {
    t.throws(() => JSON.parse(text), `really invalid: ${JSON.stringify(text)}`)
    const p = findJsonSyntaxError(text)
    t.same(p && { line: p.line, column: p.column }, { line, column }, JSON.stringify(text))
    t.match(p?.message, message, JSON.stringify(text))
  }
  for (const ok of ['{}', '[]', '{"a":[1,-2.5e3,true,false,null,"\\u00e9\\n",{}]}', ' \n"x" ']) {
    t.equal(findJsonSyntaxError(ok), null, ok)
  }
})

t.test('readConfigFile: syntax errors and unreadable files are user errors with the file name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fjg-config-'))
  const bad = join(dir, 'bad.json')
  writeFileSync(bad, '{\n  "routes": [,]\n}')
  t.throws(() => readConfigFile(bad), { code: 'FJG_ERR_CONFIG_SYNTAX', message: `${bad}:2:14: invalid JSON: unexpected ",", expected a value` })
  t.throws(() => readConfigFile(join(dir, 'nope.json')), { code: 'FJG_ERR_CONFIG_READ', message: /nope\.json: cannot read the config: no such file/ })
  t.throws(() => readConfigFile(dir), { code: 'FJG_ERR_CONFIG_READ', message: /is a folder/ })
  const bom = join(dir, 'bom.json')
  writeFileSync(bom, '\ufeff{"routes": []}')
  t.same(readConfigFile(bom), { routes: [] })
})

t.test('${NAME} placeholders: replaced in any string, every missing name reported once with its paths', async (t) => {
  const doc = {
    jwt: { secret: '${SECRET}', issuer: 'https://${HOST}/realms/${REALM}' },
    routes: [{ upstream: 'http://${UP}:9000' }, { upstream: 'http://${UP}:9001', prefix: '$${LITERAL}' }],
    n: 5,
    b: false,
    z: null
  }
  const env = { SECRET: 's3cr3t', HOST: 'id.example', REALM: 'main', UP: '10.0.0.1' }
  t.same(substituteEnv(doc, env), {
    jwt: { secret: 's3cr3t', issuer: 'https://id.example/realms/main' },
    routes: [{ upstream: 'http://10.0.0.1:9000' }, { upstream: 'http://10.0.0.1:9001', prefix: '${LITERAL}' }],
    n: 5,
    b: false,
    z: null
  })
  t.same(doc.jwt.secret, '${SECRET}', 'the input is not modified')
  let err: UserError | undefined
  try {
    substituteEnv(doc, { HOST: 'x' }, 'gw.json')
  } catch (e) {
    err = e as UserError
  }
  t.equal(err?.code, 'FJG_ERR_CONFIG_ENV')
  t.equal(err?.message.split('\n')[0], 'gw.json: 3 environment variables are not set: SECRET, REALM, UP')
  t.same(err?.problems, [
    'jwt.secret: environment variable SECRET is not set',
    'jwt.issuer: environment variable REALM is not set',
    'routes[0].upstream, routes[1].upstream: environment variable UP is not set'
  ])
  t.same(substituteEnv({ a: '$HOME ${ not a name } ${1X}' }, {}), { a: '$HOME ${ not a name } ${1X}' }, 'only ${NAME} is a placeholder')
  t.same(substituteEnv({ a: '${EMPTY}' }, { EMPTY: '' }), { a: '' }, 'an empty variable is set')
})

t.test('relative key and revocation files resolve against the config folder', async (t) => {
  const out = resolveConfigPaths({
    jwt: { keys: [{ file: 'keys/a.pem' }, { file: '/abs/b.pem' }, { jwks: 'https://x/jwks' }], revocation: { sub: 'rev/sub.json' } },
    routes: [
      { prefix: '/a', upstream: 'http://x', jwt: { keys: [{ file: '../c.jwk.json' }] } },
      { prefix: '/', upstream: 'http://x', jwt: false },
      { prefix: '/b', upstream: 'http://x' }
    ]
  }, '/etc/gw')
  t.same(out.jwt, { keys: [{ file: '/etc/gw/keys/a.pem' }, { file: '/abs/b.pem' }, { jwks: 'https://x/jwks' }], revocation: { sub: '/etc/gw/rev/sub.json' } })
  t.same(out.routes.map((r) => r.jwt), [{ keys: [{ file: '/etc/c.jwk.json' }] }, false, undefined])
})

t.test('loadConfig: paths resolved before the one check; the config stays the caller\'s to change', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fjg-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'gateway.json')
  writeFileSync(file, JSON.stringify({
    jwt: { secret: '${SECRET}', keys: [{ file: 'keys/a.pem' }] },
    routes: [{ prefix: '/a', upstream: 'http://127.0.0.1:9', jwt: { keys: [{ file: '' }] } }]
  }))
  // An empty file name is refused as written, not turned into the config folder.
  const refused = (() => { try { loadConfig(file, { SECRET: 's3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t' }) } catch (err) { return err as UserError } return null })()
  t.equal(refused?.code, 'FJG_ERR_CONFIG_INVALID')
  t.ok(refused?.problems.some((p) => p.startsWith('routes[0].jwt.keys[0].file: ')), refused?.problems.join('; ') ?? 'refused')
  t.notOk(refused?.problems.some((p) => p.includes(`'${dir}'`)), 'no problem names the folder the empty name would have become')
  writeFileSync(file, JSON.stringify({
    jwt: { secret: '${SECRET}', audience: 'api' },
    routes: [{ prefix: '/a', upstream: 'http://127.0.0.1:9', jwt: { keys: [{ file: 'keys/a.pem' }], revocation: { sub: 'rev.json' } } }]
  }))
  const { config } = loadConfig(file, { SECRET: 's3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t' })
  const route = config.routes[0] as { jwt: { keys: Array<{ file: string }>, revocation: { sub: string } } }
  t.equal(route.jwt.keys[0]?.file, join(dir, 'keys/a.pem'))
  t.equal(route.jwt.revocation.sub, join(dir, 'rev.json'))
  t.notOk(Object.isFrozen(config), 'not frozen: a host may change it before start (the gateway then checks it again)')
})

t.test('the access log URL never carries a token from the query string', async (t) => {
  const names = queryTokenNames({ jwt: { token: ['header:authorization', 'query:t0k'] }, routes: [{ prefix: '/', upstream: 'http://x', jwt: { token: 'query:sig' } }] })
  t.same([...names], [...TOKEN_QUERY_NAMES, 't0k', 'sig'])
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
  t.equal(redactUrl('/api/leads', names), '/api/leads')
  t.equal(redactUrl('/api?page=2&q=x', names), '/api?page=2&q=x')
  t.equal(redactUrl(`/api?t0k=${jwt}&page=2`, names), '/api?t0k=[redacted]&page=2')
  t.equal(redactUrl('/api?access_token=opaque&sig=abc', names), '/api?access_token=[redacted]&sig=[redacted]')
  t.equal(redactUrl(`/api?unlisted=${jwt}#frag`, names), '/api?unlisted=[redacted]#frag', 'anything shaped like a JWT')
  t.equal(redactUrl(`/api?x=Bearer%20${jwt}`, names), '/api?x=[redacted]')
  t.equal(redactUrl('/api?t%30k=abc', names), '/api?t%30k=[redacted]', 'names are compared decoded')
})

t.test('URLs as a client types them', async (t) => {
  t.equal(urlOf('0.0.0.0', 80), 'http://127.0.0.1:80')
  t.equal(urlOf('::', 81), 'http://[::1]:81')
  t.equal(urlOf('::1', 82), 'http://[::1]:82')
  t.equal(urlOf('localhost', 83), 'http://localhost:83')
})

t.test('a whole placeholder under a number or boolean key becomes a number or boolean', async (t) => {
  const doc = {
    server: { port: '${PORT}', workers: '${W}', host: '${PORT}' },
    jwt: { secret: '${PORT}', leeway: '${L}', optional: '${OPT}', validateExp: '${BAD_BOOL}' },
    routes: [{ prefix: '/', upstream: 'http://127.0.0.1:${PORT}', timeout: 'x${PORT}' }]
  }
  const out = substituteEnv(doc, { PORT: '8080', W: '2', L: '1.5', OPT: 'true', BAD_BOOL: 'yes' }) as any
  t.equal(out.server.port, 8080)
  t.equal(out.server.workers, 2)
  t.equal(out.server.host, '8080', 'not a numeric key: stays a string')
  t.equal(out.jwt.secret, '8080', 'a secret of digits stays a string')
  t.equal(out.jwt.leeway, 1.5)
  t.equal(out.jwt.optional, true)
  t.equal(out.jwt.validateExp, 'yes', 'not true/false: left for the schema to refuse')
  t.equal(out.routes[0].upstream, 'http://127.0.0.1:8080')
  t.equal(out.routes[0].timeout, 'x8080', 'only a whole placeholder is converted')
  t.equal((substituteEnv({ server: { port: '${P}' } }, { P: '80 80' }) as any).server.port, '80 80')
})

t.test('trustProxy from the environment: a hop count, true/false, or an address list', async (t) => {
  const doc = (v: string): any => substituteEnv({ server: { trustProxy: '${TP}' } }, { TP: v })
  t.equal(doc('2').server.trustProxy, 2)
  t.equal(doc('true').server.trustProxy, true)
  t.equal(doc('10.0.0.0/8,127.0.0.1').server.trustProxy, '10.0.0.0/8,127.0.0.1')
})
