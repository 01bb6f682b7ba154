import type { ResourceRequirements } from '../../protocol/taskSpec';

/**
 * What a request needs of a worker, as the work_request `need_*` columns store it and the claim query compares
 * it: the spec's explicit requirements, and learned ones where the spec left a resource open.
 */
export interface EffectiveRequirements {
  needMemory: number | null;
  needDisk: number | null;
  needCpu: number | null;
  needGpu: number | null;
  needTags: string[];
}

/** Only what the spec names (nothing learned). */
export function explicitRequirements(explicit: ResourceRequirements): EffectiveRequirements {
  return {
    needMemory: explicit.memory ?? null,
    needDisk: explicit.disk ?? null,
    needCpu: explicit.cpu ?? null,
    needGpu: explicit.gpu ?? null,
    needTags: explicit.tags ?? [],
  };
}
