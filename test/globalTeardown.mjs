// Jest global teardown: stops the embedded PostgreSQL started by globalSetup.mjs and deletes its data dir.
import { releaseServer, RUN_STATE_KEY } from './globalSetup.mjs';

export default async function globalTeardown() {
  const state = globalThis[RUN_STATE_KEY];
  delete globalThis[RUN_STATE_KEY];
  await releaseServer(state);
}
