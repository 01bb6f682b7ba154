'use strict';
// @ts-check
/*
 * The worker agent's task spawner: a small Node process, forked by the agent, that starts the tasks and forwards
 * their output and exit over the IPC channel. A fork costs in proportion to the forking process's memory: from
 * the agent under load (150–180 MB) a spawn() took about 3.3 ms of its one thread per task, from this process
 * (about a quarter of that) much less, and on another core. It also guards the tasks: when the agent dies (even
 * by kill -9) the IPC channel closes and this kills every task's process group it still holds. In a session of
 * its own, so a Ctrl-C the agent handles (drain) does not reach it. Plain JavaScript: it runs as is from the
 * sources and from dist/, with nothing else loaded.
 *
 * Messages from the agent: {op: 'spawn', id, file, args, cwd, env, uid?, gid?, gateFiles?} and {op: 'release', id}.
 * To the agent: {op: 'spawned', id, pid} or {op: 'thrown', id, message}, then {op: 'out', id, stream, text},
 * {op: 'error', id, code, message}, {op: 'exit', id, code, signal} and {op: 'close', id}.
 */
const { spawn } = require('node:child_process');
const { writeFile } = require('node:fs/promises');

/** @type {Map<number, import('node:child_process').ChildProcess>} */
const tasks = new Map();
/** Output messages sent but not yet written to the channel: past HIGH the tasks' pipes pause (the agent is behind). */
let unsent = 0;
let paused = false;
const HIGH = 256;
const LOW = 32;

/** @param {object} message @param {boolean} [counted] */
function send(message, counted) {
  if (!process.connected) return;
  if (!counted) {
    process.send(message);
    return;
  }
  unsent += 1;
  process.send(message, () => {
    unsent -= 1;
    if (paused && unsent <= LOW) setPaused(false);
  });
  if (!paused && unsent >= HIGH) setPaused(true);
}

/** @param {boolean} pause */
function setPaused(pause) {
  paused = pause;
  for (const child of tasks.values()) {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream || stream.destroyed) continue;
      if (pause) stream.pause();
      else stream.resume();
    }
  }
}

/**
 * The gated shell (a task run as another user) waits on fd 3: move it into each cgroup as root, then say `go`,
 * or name the file that could not be joined.
 * @param {import('node:stream').Writable} gate @param {number} pid @param {string[]} files
 */
async function openGate(gate, pid, files) {
  for (const file of files) {
    try {
      await writeFile(file, String(pid));
    } catch (error) {
      const failure = /** @type {NodeJS.ErrnoException} */ (error);
      gate.end(`${file}: ${failure.code ?? failure.message}\n`);
      return;
    }
  }
  gate.end('go\n');
}

/** @param {{id: number, file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, uid?: number, gid?: number, gateFiles?: string[]}} request */
function startTask(request) {
  const { id, gateFiles } = request;
  const gated = gateFiles !== undefined;
  /** @type {import('node:child_process').ChildProcess} */
  let child;
  try {
    child = spawn(request.file, request.args, {
      cwd: request.cwd,
      env: request.env,
      detached: true,
      stdio: gated ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
      ...(request.uid !== undefined ? { uid: request.uid, gid: request.gid } : {}),
    });
  } catch (error) {
    // Synchronous failures: invalid arguments (NUL bytes), too many open files...
    send({ op: 'thrown', id, message: /** @type {Error} */ (error).message });
    return;
  }
  tasks.set(id, child);
  send({ op: 'spawned', id, pid: child.pid });
  for (const [name, stream] of /** @type {const} */ ([['stdout', child.stdout], ['stderr', child.stderr]])) {
    if (!stream) continue;
    stream.setEncoding('utf8'); // StringDecoder: multi-byte characters are never split.
    stream.on('data', (text) => send({ op: 'out', id, stream: name, text }, true));
    if (paused) stream.pause();
  }
  child.on('error', (error) => send({ op: 'error', id, code: /** @type {NodeJS.ErrnoException} */ (error).code, message: error.message }));
  child.on('exit', (code, signal) => send({ op: 'exit', id, code, signal }));
  child.on('close', () => {
    tasks.delete(id);
    send({ op: 'close', id });
  });
  if (gated) {
    const gate = /** @type {import('node:stream').Writable} */ (child.stdio[3]);
    gate.on('error', () => undefined); // the shell died first: its exit is reported as such
    if (child.pid === undefined) gate.destroy();
    else void openGate(gate, child.pid, gateFiles);
  }
}

/** The agent gave up waiting for the pipes (a stray holder): close them here too. @param {number} id */
function release(id) {
  const child = tasks.get(id);
  if (!child) return;
  tasks.delete(id);
  child.stdout?.destroy();
  child.stderr?.destroy();
}

process.on('message', (/** @type {any} */ message) => {
  if (message.op === 'spawn') startTask(message);
  else if (message.op === 'release') release(message.id);
});

// The agent is gone (or retired this process): nothing it started may run unsupervised.
process.on('disconnect', () => {
  for (const child of tasks.values()) {
    if (child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Group already gone.
    }
  }
  process.exit(0);
});
