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
  WorkerSnapshot,
} from './types';
