export * from './units';
export * from './outputData';
export * from './taskSpec';
export * from './workRequest';
export * from './workerApi';
export * from './errors';
export * from './tokens';
export * from './statistics';
