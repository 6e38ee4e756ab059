// Skipping a test for a missing tool: fine on a developer's machine, never in CI. Under CI=true
// (the CI run sets it) a missing tool registers a failing test that names it, so a CI run cannot
// pass while whole suites silently skipped.
import { test } from 'node:test';

/**
 * @param {string|false|null|undefined} missing why the tests cannot run (e.g. "python3 not installed"), or false
 * @returns {string|false} the `skip` option for the tests that need the tool
 */
export function skipUnlessCI(missing) {
  if (!missing) return false;
  if (process.env.CI === 'true') {
    test(`a tool the tests need is present (${missing})`, () => {
      throw new Error(`${missing}: under CI=true a missing tool fails the run instead of skipping (.ci/run installs it)`);
    });
  }
  return missing;
}
