/**
 * A long-running command whose stdout/stderr reader went away (`worksched worker 2>&1 | tee w.log`, tee ended
 * by Ctrl-C) keeps running and stops as asked: writes to a closed pipe (EPIPE) are dropped instead of being an
 * uncaught 'error' that kills the process in the middle of its drain.
 */
export function ignoreBrokenPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
}
