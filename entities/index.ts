import { ApiToken } from './ApiToken';
import { LogChunk } from './LogChunk';
import { Worker } from './Worker';
import { WorkRequest } from './WorkRequest';

export { ApiToken, LogChunk, Worker, WorkRequest };
export type { TaskData } from './WorkRequest';

export const ALL_ENTITIES = [ApiToken, Worker, WorkRequest, LogChunk];
