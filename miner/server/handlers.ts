/** What the miner does for each MinerService call, free of gRPC plumbing. */
import type {
  AllocateRequest,
  AllocateResponse,
  GetCapacityRequest,
  GetCapacityResponse,
  ListContainersRequest,
  ListContainersResponse,
  ReleaseRequest,
  ReleaseResponse,
  RunChallengeRequest,
  RunChallengeResponse,
} from '../../common/gen/polarise/v1/miner.js';
import type { Identity } from '../../common/identity.js';

/** Where a challenge's events go. `send` resolves once the client can take more. */
export interface EventSink {
  send(event: RunChallengeResponse): Promise<void>;
  /** Aborted when the client cancels, its deadline passes or the miner shuts down. */
  readonly signal: AbortSignal;
}

export interface MinerHandlers {
  allocate(request: AllocateRequest, caller: Identity): Promise<AllocateResponse>;
  runChallenge(request: RunChallengeRequest, caller: Identity, sink: EventSink): Promise<void>;
  listContainers(request: ListContainersRequest, caller: Identity): Promise<ListContainersResponse>;
  release(request: ReleaseRequest, caller: Identity): Promise<ReleaseResponse>;
  getCapacity(request: GetCapacityRequest, caller: Identity): Promise<GetCapacityResponse>;
}
