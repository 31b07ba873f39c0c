import { Failure } from '../common/errors.js';
import type { MinerHandlers } from './handlers.js';

const no = (method: string) => async (): Promise<never> => {
  throw new Failure('unimplemented', `${method} is not implemented yet`);
};

/** Placeholder until the container manager lands. */
export const unimplementedHandlers: MinerHandlers = {
  allocate: no('Allocate'),
  runChallenge: no('RunChallenge'),
  listContainers: no('ListContainers'),
  release: no('Release'),
};
