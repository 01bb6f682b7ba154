export { startTask } from './startTask';
export { detectMeasurementMethod } from './cgroupDetect';
export type {
  KillReason,
  MeasurementMethod,
  OutputStream,
  RunningTask,
  RunTaskOptions,
  TaskOutcome,
  TaskResult,
  TaskUser,
  WorkerSnapshot,
} from './types';
