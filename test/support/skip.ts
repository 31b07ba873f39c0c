/**
 * A check a test cannot make on this run is reported as skipped, with the
 * reason printed, never passed silently.
 */
import type { Context } from 'mocha';

export function skipBecause(test: Context, reason: string): never {
  console.log(`      skipped: ${reason}`);
  test.skip();
}
