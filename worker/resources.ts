import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import si from 'systeminformation';
import type { WorkerResources } from '../protocol/workerApi';

/** The machine as the scheduler needs to see it (seed 000 naming, bytes), from systeminformation. */
export async function collectResources(workDir: string, options: { includeStatic?: boolean } = {}): Promise<WorkerResources> {
  const [memory, availableDisk] = await Promise.all([si.mem(), availableDiskFor(workDir)]);
  const includeStatic = options.includeStatic ?? true;
  const [osInfo, graphics] = includeStatic ? await Promise.all([si.osInfo(), si.graphics().catch(() => ({ controllers: [] }))]) : [null, null];
  const resources: WorkerResources = {
    cpu_count: os.availableParallelism(),
    total_memory: memory.total,
    available_memory: memory.available,
    available_disk_space: availableDisk,
    architecture: os.arch(),
    os: osInfo ? `${osInfo.distro} ${osInfo.release}`.trim() || os.platform() : `${os.platform()} ${os.release()}`,
    gpus: (graphics?.controllers ?? [])
      .filter((controller) => controller.vram !== null || /nvidia|amd|radeon/i.test(controller.vendor ?? ''))
      .map((controller) => ({ model: controller.model || controller.vendor || 'unknown', memory: controller.vram ? controller.vram * 1024 * 1024 : null })),
  };
  return resources;
}

/**
 * Bytes an unprivileged user may still write on the filesystem holding `dir` (df's "Available"), from
 * statfs(2) of the directory itself, or of its nearest existing ancestor: no `df` process every refresh.
 */
async function availableDiskFor(dir: string): Promise<number> {
  for (let target = path.resolve(dir); ; target = path.dirname(target)) {
    try {
      const stats = await fs.statfs(target);
      return Math.max(0, stats.bavail * stats.bsize);
    } catch (error) {
      if (path.dirname(target) === target) throw error;
    }
  }
}
