/**
 * JSON answers of the API routes are framed for one socket write: a Content-Length (never chunked), no ETag
 * computed over the body, and on loopback the whole answer, headers and body, arrives as one chunk.
 */
import net from 'node:net';
import { startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

/** One request on a fresh connection; the chunks the answer arrived in. */
function rawGet(urlPath: string, token: string): Promise<Buffer[]> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(`GET ${urlPath} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${token}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(chunks));
    socket.on('error', reject);
  });
}

test('a work request is answered with its Content-Length, without chunks or an ETag, in one piece', async () => {
  const created = await server.createWorkRequest();
  const chunks = await rawGet(`/api/v1/work-requests/${created.id}`, server.clientToken);
  const text = Buffer.concat(chunks).toString('utf8');
  const [head, body] = text.split('\r\n\r\n');
  expect(head).toMatch(/^HTTP\/1\.1 200/);
  expect(head).toMatch(/\r\ncontent-type: application\/json; charset=utf-8/i);
  expect(head).not.toMatch(/\r\ntransfer-encoding:/i);
  expect(head).not.toMatch(/\r\netag:/i);
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1]);
  expect(length).toBe(Buffer.byteLength(body, 'utf8'));
  expect((JSON.parse(body) as { id: number }).id).toBe(created.id);
  expect(chunks).toHaveLength(1);
});
