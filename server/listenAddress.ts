import net from 'node:net';

/** The port is taken: by another worksched server (`url` set) or by some other program. */
export class PortInUseError extends Error {
  readonly code = 'port_in_use';
  constructor(
    readonly host: string,
    readonly port: number,
    readonly worksched: string | null,
  ) {
    super(
      worksched
        ? `worksched is already running at ${worksched} (port ${port} is taken): use it, stop it, or start this one with another --port or WORKSCHED_PORT`
        : `port ${port} on ${host} is already in use by another program (EADDRINUSE): choose another with --port or WORKSCHED_PORT`,
    );
    this.name = 'PortInUseError';
  }
}

export function serverUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Before the slow start (PostgreSQL, migrations): fails at once when the port is taken. Port 0 is always free. */
export async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, host, () => resolve());
    });
  } catch (error) {
    throw await describeListenError(error, host, port);
  } finally {
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  }
}

/** EADDRINUSE becomes a PortInUseError saying whether worksched holds the port; anything else is kept. */
export async function describeListenError(error: unknown, host: string, port: number): Promise<unknown> {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') return error;
  const url = serverUrl(host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host, port);
  return new PortInUseError(host, port, (await isWorksched(url)) ? url : null);
}

/** `GET /` of a worksched server answers `{"service": "worksched", ...}` to a JSON client. */
async function isWorksched(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(2_000) });
    const body = (await response.json()) as { service?: unknown };
    return body.service === 'worksched';
  } catch {
    return false;
  }
}
