/** The real Docker engine, for tests that need it (they fail without one). */
import Docker from 'dockerode';

export const docker = new Docker();

export async function requireDocker(): Promise<void> {
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(
      `these tests need a running Docker engine and none answers (${(err as Error).message}). ` +
        'Run "bash scripts/setup.sh" as root to install and start one.',
    );
  }
}

/** Containers and networks whose names start with `prefix`. */
export async function countResources(prefix: string): Promise<{ containers: number; networks: number }> {
  const containers = await docker.listContainers({ all: true, filters: { name: [prefix] } });
  const networks = await docker.listNetworks({ filters: { name: [prefix] } });
  return {
    containers: containers.filter((c) => c.Names.some((n) => n.replace(/^\//, '').startsWith(prefix))).length,
    networks: networks.filter((n) => n.Name.startsWith(prefix)).length,
  };
}

/** Removes everything a test miner left behind (only that miner's prefix). */
export async function removeResources(prefix: string): Promise<void> {
  for (const c of await docker.listContainers({ all: true, filters: { name: [prefix] } })) {
    if (c.Names.some((n) => n.replace(/^\//, '').startsWith(prefix))) await docker.getContainer(c.Id).remove({ force: true });
  }
  for (const n of await docker.listNetworks({ filters: { name: [prefix] } })) {
    if (n.Name?.startsWith(prefix)) await docker.getNetwork(n.Id).remove();
  }
}
