/** Cleanup that waits out Docker's short races (a removal in progress: 409; a network whose container still detaches). */
import { removeResources } from './docker.js';

export async function removeResourcesPatiently(prefix: string, attempts = 20): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await removeResources(prefix);
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
