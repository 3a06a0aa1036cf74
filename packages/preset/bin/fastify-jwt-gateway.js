#!/usr/bin/env node
'use strict'

// Thin shim: the CLI lives in dist/cli.js (built by `pnpm run build`).
require('../dist/cli.js').main(process.argv.slice(2)).then((code) => {
  if (typeof code === 'number') process.exitCode = code
})
