/**
 * Runs a challenge command in a container with `docker exec` and streams
 * live resource samples, then one ChallengeResult.
 * (Placeholder: the RunChallenge issue fills this in.)
 */
import type Docker from 'dockerode';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import { Failure } from '../common/errors.js';
import type { RunChallengeRequest } from '../common/gen/polarise/v1/miner.js';
import type { EventSink } from './handlers.js';

export interface ChallengeTarget {
  containerId: string;
}

export class ChallengeRunner {
  constructor(
    private readonly docker: Docker,
    private readonly config: Config['challenge'],
    private readonly log: Logger,
  ) {}

  /**
   * Validates the request's own fields (type, command, interval, duration),
   * runs it in `target`, and sends samples and the result to `sink`.
   * The caller has already checked that the container exists and who owns it.
   */
  async run(target: ChallengeTarget, request: RunChallengeRequest, sink: EventSink): Promise<void> {
    void this.docker;
    void this.config;
    void this.log;
    void target;
    void request;
    void sink;
    throw new Failure('unimplemented', 'RunChallenge is not implemented yet');
  }
}
