// Internal state lives on symbols so it never collides with user decorations
// and is never part of the public API (index.ts does not re-export this file).
export const kPolicy = Symbol('fjg.policy')
export const kCompiled = Symbol('fjg.compiled')
export const kKeyStore = Symbol('fjg.keyStore')
