/**
 * A restarted worker keeps its identity (its saved token) but may be started with other settings: its heartbeat
 * carries concurrency, tags and cost, and the claim honours the new values at once.
 */
import { expectStatus, GiB, startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server.close();
});

test('heartbeat settings replace the registered concurrency, tags and cost, and the claim follows them', async () => {
  const worker = await server.registerWorker({ concurrency: 1, tags: ['old'], totalMemory: 4 * GiB });
  const tagged = await server.createWorkRequest({ resources: { tags: ['gpu-box'] } });
  const plain = [await server.createWorkRequest(), await server.createWorkRequest()];

  // As registered: concurrency 1, no "gpu-box" tag.
  expect((await worker.claimOk({ max: 10 })).map((item) => item.id)).toEqual([plain[0].id]);

  const answer = await worker.call('POST', '/api/v1/workers/heartbeat', {
    running: [plain[0].id],
    concurrency: 3,
    tags: ['gpu-box'],
    cost_per_hour: 0.5,
  });
  expectStatus(answer, 200, 'heartbeat with settings');
  const listed = (await server.client(server.adminToken).listWorkers()).find((entry) => entry.id === worker.id)!;
  expect(listed).toMatchObject({ concurrency: 3, tags: ['gpu-box'], cost_per_hour: 0.5 });

  // Two more slots now, and the tagged request fits.
  const claimed = (await worker.claimOk({ max: 10 })).map((item) => item.id).sort((a, b) => a - b);
  expect(claimed).toEqual([tagged.id, plain[1].id].sort((a, b) => a - b));
});
