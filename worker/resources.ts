import os from 'node:os';
import path from 'node:path';
import si from 'systeminformation';
import type { WorkerResources } from '../protocol/workerApi';

/** The machine as the scheduler needs to see it (seed 000 naming, bytes), from systeminformation. */
export async function collectResources(workDir: string, options: { includeStatic?: boolean } = {}): Promise<WorkerResources> {
  const [memory, filesystems] = await Promise.all([si.mem(), si.fsSize()]);
  const includeStatic = options.includeStatic ?? true;
  const [osInfo, graphics] = includeStatic ? await Promise.all([si.osInfo(), si.graphics().catch(() => ({ controllers: [] }))]) : [null, null];
  const resources: WorkerResources = {
    cpu_count: os.availableParallelism(),
    total_memory: memory.total,
    available_memory: memory.available,
    available_disk_space: availableDiskFor(workDir, filesystems),
    architecture: os.arch(),
    os: osInfo ? `${osInfo.distro} ${osInfo.release}`.trim() || os.platform() : `${os.platform()} ${os.release()}`,
    gpus: (graphics?.controllers ?? [])
      .filter((controller) => controller.vram !== null || /nvidia|amd|radeon/i.test(controller.vendor ?? ''))
      .map((controller) => ({ model: controller.model || controller.vendor || 'unknown', memory: controller.vram ? controller.vram * 1024 * 1024 : null })),
  };
  return resources;
}

/** Free bytes of the filesystem holding `dir`: the mount point that is the longest prefix of its path. */
function availableDiskFor(dir: string, filesystems: si.Systeminformation.FsSizeData[]): number {
  const target = path.resolve(dir);
  let best: si.Systeminformation.FsSizeData | undefined;
  for (const fs of filesystems) {
    const mount = fs.mount.endsWith('/') ? fs.mount : `${fs.mount}/`;
    if ((target + '/').startsWith(mount) && (!best || fs.mount.length > best.mount.length)) best = fs;
  }
  return Math.max(0, Math.floor(best?.available ?? 0));
}
