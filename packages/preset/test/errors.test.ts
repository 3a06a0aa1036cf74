import t from 'tap'
import * as errors from '../src/errors.js'

// Pins the preset's codes: every UserError carries one of these, and scripts
// may match on them (`err.code`). A new code is appended here.
const expected = [
  'FJG_ERR_CONFIG_READ', 'FJG_ERR_CONFIG_SYNTAX', 'FJG_ERR_CONFIG_ENV', 'FJG_ERR_CONFIG_INVALID', 'FJG_ERR_CLI_USAGE',
  'FJG_ERR_LISTEN', 'FJG_ERR_CHECK_STRICT', 'FJG_ERR_PID_FILE', 'FJG_ERR_REVOKE_STORE'
]

t.test('the code table', async (t) => {
  const table = Object.entries(errors).filter(([k]) => k.startsWith('FJG_ERR_'))
  t.equal(table.length, expected.length, 'count')
  for (const [key, code] of table) t.equal(code, key, `${key}: key === code`)
  t.same(table.map(([k]) => k).sort(), [...expected].sort(), 'these codes')
  const err = new errors.UserError(errors.FJG_ERR_CONFIG_INVALID, 'gateway.json: invalid configuration', ['server.prot: unknown key'])
  t.equal(err.message, 'gateway.json: invalid configuration\n  server.prot: unknown key', 'one indented line per problem')
  t.same(err.problems, ['server.prot: unknown key'])
  t.equal(err.code, 'FJG_ERR_CONFIG_INVALID')
})
