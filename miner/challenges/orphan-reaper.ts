/**
 * Adoption's other half: a container a previous miner served may still run
 * what that miner's calls started, a challenge command or an SSH session's
 * processes, whose clients are gone with the miner (Docker cannot end an
 * exec). Before the new miner adopts the container (and so before anyone
 * can reach it through this miner), every `docker exec` tree still in it is
 * ended: from the host, bounded by the container's cgroup
 * (ContainerProcesses.endExecs), else from inside the container's own pid
 * namespace. The container's init and its command stay, and so does what
 * left those trees on purpose: a renter's daemon in a session of its own, or
 * the background child of a challenge that had already ended.
 */
import type Docker from 'dockerode';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { ContainerProcesses } from './container-processes.js';
import { endExecsInContainer } from './exec-processes.js';

export class OrphanReaper {
  constructor(
    private readonly docker: Docker,
    private readonly log: Logger,
  ) {}

  /** Ends what earlier execs left running in the container; never throws. */
  async reap(containerId: string): Promise<void> {
    const started = performance.now();
    const container = this.docker.getContainer(containerId);
    try {
      const info = await container.inspect();
      if (!info.State.Running || info.State.Paused) return;
      const log = this.log.child({ container: info.Name.replace(/^\//, '') });
      const processes = ContainerProcesses.open(info.Id, info.State.Pid);
      if (processes) {
        const { roots, killed, left } = await processes.endExecs();
        if (roots === 0) return;
        const figures = { execs: roots, processes: killed, left, ms: Math.round(performance.now() - started) };
        log.info('ended processes a previous miner left running', figures);
        if (left > 0) log.warn('processes survived SIGKILL', { left });
        return;
      }
      await endExecsInContainer(this.docker, container);
      log.info('ended processes a previous miner left running (from inside the container)', { ms: Math.round(performance.now() - started) });
    } catch (err) {
      this.log.warn('could not end what a previous miner left running', { container: containerId.slice(0, 12), error: errorMessage(err) });
    }
  }
}
