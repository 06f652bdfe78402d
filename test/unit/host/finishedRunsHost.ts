import { RunRequestHost } from '../../../src/host/runRequests';

/** The parts of a RunRequests host for runs that are all finished: nothing is live, nothing to stop or save. */
export const FINISHED_RUNS: Omit<RunRequestHost, 'runDir'> = {
  isLive: () => false,
  isStopping: () => false,
  stop: () => false,
  pause: () => false,
  proceed: () => false,
  saveFile: async () => undefined,
};
