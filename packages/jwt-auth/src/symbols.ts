// Internal state lives on symbols so it never collides with user decorations
// and is never part of the public API (index.ts does not re-export this file).
export const kCompiled = Symbol('fjg.compiled')
/** On a request: the policy of a route the onRoute hook never saw, for the access-phase guard. */
export const kMissed = Symbol('fjg.missed')
