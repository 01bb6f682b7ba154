export { startTask } from './startTask';
export { detectMeasurementMethod } from './cgroupDetect';
export { taskSpawner } from './taskSpawner';
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
