// The ESM twin of internal.ts (package.json `exports` → `./internal` → `import`),
// re-exporting the one CommonJS build as index.mts does.
export * from './internal.js'
