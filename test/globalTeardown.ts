// Jest global teardown: stops the embedded PostgreSQL started by globalSetup.ts and deletes its data dir.
import { releaseServer, takeRunState } from './globalSetup';

export default async function globalTeardown(): Promise<void> {
  await releaseServer(takeRunState());
}
