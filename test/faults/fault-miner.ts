/** The fault suite's miner: a real one per describe block, with everything it made removed afterwards. */
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerOptions, type MinerProcess } from '../support/miner-process.js';

/** Registers before/after hooks that start a real miner (Docker required) and remove it and its resources afterwards. */
export function useMiner(options: MinerOptions = {}): () => MinerProcess {
  let miner: MinerProcess | undefined;
  before(async () => {
    await requireDocker();
    miner = await startMiner(options);
  });
  after(async () => {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });
  return () => miner!;
}
