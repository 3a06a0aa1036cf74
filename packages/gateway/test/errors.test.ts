import { STATUS_CODES } from 'node:http'
import t from 'tap'
import * as errors from '../src/errors.js'
import * as api from '../src/index.js'

// Pins the gateway's table: a change of code, status or message is a
// breaking change for everyone who alerts on these codes or matches the body.
// The message is the template (`%s` where a value goes); `error` is the
// status text Fastify's error handler writes.
const expected: Record<string, [number, string, string]> = {
  FJG_ERR_UPSTREAM_UNAVAILABLE: [502, 'Bad Gateway', 'The upstream server is unavailable'],
  FJG_ERR_UPSTREAM_TIMEOUT: [504, 'Gateway Timeout', 'The upstream server did not answer in time'],
  FJG_ERR_METHOD_NOT_ALLOWED: [405, 'Method Not Allowed', 'The method is not allowed on this route'],
  FJG_ERR_PATH_NOT_CANONICAL: [400, 'Bad Request', 'The request path is not canonical'],
  FJG_ERR_BODY_TIMEOUT: [408, 'Request Timeout', 'The request body was not received in time'],
  FJG_ERR_RATE_LIMITED: [429, 'Too Many Requests', 'Rate limit exceeded, retry in %s'],
  FJG_ERR_RATE_LIMIT_UNAVAILABLE: [503, 'Service Unavailable', 'The rate-limit store is unavailable'],
  FJG_ERR_CLIENT_CERT_REQUIRED: [403, 'Forbidden', 'A valid client certificate is required'],
  FJG_ERR_UPSTREAM_NO_MATCH: [403, 'Forbidden', 'No upstream serves the token\'s claim value'],
  FJG_ERR_AUTH_UNTRUSTED: [403, 'Forbidden', 'The caller may not use the auth endpoint'],
  FJG_ERR_AUTH_NO_ROUTE: [404, 'Not Found', 'No route owns the original request path'],
  FJG_ERR_WEBSOCKET_DISABLED: [400, 'Bad Request', 'WebSocket is not enabled on this route'],
  FJG_ERR_GATEWAY_CONFIG: [500, 'Internal Server Error', 'Invalid gateway config:\n  %s']
}

t.test('the error table', async (t) => {
  // Every FJG_ERR_* export is a constructor; GatewayConfigError is FJG_ERR_GATEWAY_CONFIG's name as a class.
  const table = Object.entries(errors).filter(([k]) => k.startsWith('FJG_ERR_')) as unknown as Array<[string, errors.GatewayAnswerConstructor]>
  t.equal(table.length, Object.keys(expected).length, 'count')
  t.equal(Object.entries(errors).filter(([, v]) => typeof v === 'function').length, table.length + 2, 'besides: GatewayConfigError and sendAnswer only')
  for (const [key, Ctor] of table) {
    t.equal(typeof Ctor, 'function', `${key}: a constructor`)
    const err = key === 'FJG_ERR_GATEWAY_CONFIG' ? new errors.GatewayConfigError(['%s']) : new Ctor()
    t.equal(err.code, key, `${key}: key === code`)
    const [status, text, message] = expected[key] as [number, string, string]
    t.same([err.statusCode, err.message], [status, message], `${key}: status, message`)
    t.ok(err instanceof Error && err instanceof Ctor, `${key}: an Error of its own kind`)
    t.equal(typeof err.stack, status >= 500 && key === 'FJG_ERR_GATEWAY_CONFIG' ? 'string' : 'undefined', `${key}: a stack only for the config error`)
    t.equal((api as Record<string, unknown>)[key], Ctor, `${key}: exported by the package`)
    t.equal(STATUS_CODES[status], text, `${key}: the body's error text`)
  }
  t.equal(errors.FJG_ERR_GATEWAY_CONFIG, errors.GatewayConfigError, 'the config error\'s code names its class')
  t.equal(new errors.FJG_ERR_RATE_LIMITED('1 minute').message, 'Rate limit exceeded, retry in 1 minute')
})

t.test('GatewayConfigError: every problem on its line, as before', async (t) => {
  const err = new errors.GatewayConfigError(['routes[0].prefix: must start with /', 'jwt.leeway: must be number, got \'abc\' (100%)'])
  t.equal(err.message, 'Invalid gateway config:\n  routes[0].prefix: must start with /\n  jwt.leeway: must be number, got \'abc\' (100%)')
  t.same(err.problems, ['routes[0].prefix: must start with /', 'jwt.leeway: must be number, got \'abc\' (100%)'])
  t.equal(err.code, 'FJG_ERR_GATEWAY_CONFIG')
  t.equal(err.name, 'GatewayConfigError')
  t.equal(err.statusCode, 500)
  t.ok(err instanceof api.GatewayConfigError && err instanceof Error)
  t.notOk(new errors.FJG_ERR_UPSTREAM_TIMEOUT() instanceof errors.GatewayConfigError, 'instanceof tells the codes apart')
  t.equal(new errors.GatewayConfigError([]).message, 'Invalid gateway config:\n')
})
