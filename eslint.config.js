'use strict'

module.exports = require('neostandard')({
  ts: true,
  ignores: ['**/.scratch/**', '**/dist/**', '**/node_modules/**', '**/coverage/**', '**/.tap/**', '**/*.d.ts']
})
